#!/usr/bin/env python3
"""Score a scanner's output against bench-corpus/scan/labels.tsv.

usage: scan_score.py LABELS TOOL OUTPUT_FILE [-v] [--by-dir]
TOOL: clef | gitleaks | betterleaks | kingfisher | ripsecrets | detect-secrets

A finding is a (path, line). It is a true positive if it falls on a labelled
line (or inside a labelled multi-line block such as a PEM key); several
findings on one labelled secret count once. Every other distinct (path, line)
is a false positive. Prints one TSV line: tool, tp, fp, fn, precision, recall, f1.
"""
import json
import re
import sys


def norm(p):
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    i = p.find("files/")
    if i >= 0:
        p = p[i + len("files/"):]
    return p


def load_labels(path):
    labels = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.rstrip("\n").split("\t")
        start = int(parts[1])
        end = int(parts[3]) if len(parts) > 3 and parts[3] else start
        labels.append((parts[0], start, end, parts[2]))
    return labels


def json_objects(text):
    """Yield every top-level JSON value in text (kingfisher prints several)."""
    dec = json.JSONDecoder()
    i = 0
    while i < len(text):
        while i < len(text) and text[i] not in "{[":
            i += 1
        if i >= len(text):
            break
        try:
            v, j = dec.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        yield v
        i = j


def findings(tool, text):
    out = []
    if tool == "clef":
        for f in json.loads(text)["findings"]:
            out.append((norm(f["path"]), f["line"]))
    elif tool == "gitleaks":
        for f in json.loads(text or "[]"):
            out.append((norm(f["File"]), f["StartLine"]))
    elif tool == "betterleaks":
        v = json.loads(text or "{}")
        for f in v.get("findings") or []:
            out.append((norm(f["location"]["path"]), f["location"]["start_line"]))
    elif tool == "kingfisher":
        for v in json_objects(text):
            if isinstance(v, dict) and isinstance(v.get("findings"), list):
                for f in v["findings"]:
                    g = f.get("finding", f)
                    out.append((norm(g["path"]), int(g["line"])))
    elif tool == "ripsecrets":
        for line in text.splitlines():
            m = re.match(r"^(.*?):(\d+):", line)
            if m:
                out.append((norm(m.group(1)), int(m.group(2))))
    elif tool == "detect-secrets":
        v = json.loads(text)
        for path, items in v.get("results", {}).items():
            for f in items:
                out.append((norm(path), f["line_number"]))
    else:
        raise SystemExit(f"unknown tool {tool}")
    return out


def main():
    labels_path, tool, output = sys.argv[1:4]
    labels = load_labels(labels_path)
    text = open(output, errors="replace").read()
    found = set(findings(tool, text))
    hit = set()
    fp = set()
    for path, line in found:
        match = [i for i, (p, s, e, _) in enumerate(labels) if p == path and s <= line <= e]
        if match:
            hit.update(match)
        else:
            fp.add((path, line))
    tp = len(hit)
    fn = len(labels) - tp
    precision = tp / (tp + len(fp)) if tp + len(fp) else 0.0
    recall = tp / len(labels) if labels else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"{tool}\t{tp}\t{len(fp)}\t{fn}\t{precision:.3f}\t{recall:.3f}\t{f1:.3f}")
    if "--by-dir" in sys.argv:
        # recall per directory of labelled secrets (contexts/<context>/...)
        dirs = {}
        for i, (p, s, e, fam) in enumerate(labels):
            d = "/".join(p.split("/")[:2]) if p.startswith("contexts/") else p.split("/")[0]
            t = dirs.setdefault(d, [0, 0, 0])
            t[0] += 1
            t[1] += i in hit
        for p, _ in fp:
            d = "/".join(p.split("/")[:2]) if p.startswith("contexts/") else p.split("/")[0]
            dirs.setdefault(d, [0, 0, 0])[2] += 1
        for d, (n, h, f) in sorted(dirs.items()):
            print(f"  {tool}\t{d}\t{h}/{n}\t{h / n if n else 0:.2f}\tfp {f}", file=sys.stderr)
    if "-v" in sys.argv:
        for i, (p, s, e, fam) in enumerate(labels):
            if i not in hit:
                print(f"  missed {p}:{s} {fam}", file=sys.stderr)
        for p, l in sorted(fp):
            print(f"  false positive {p}:{l}", file=sys.stderr)


main()
