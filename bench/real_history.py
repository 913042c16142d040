#!/usr/bin/env python3
"""Build a git repository from real code: every published release of a set
of crates from crates.io, one commit per release (never committed here).

    real_history.py OUT [CACHE]

No large real repository can be cloned from this sandbox (only package
registries are reachable), so this is the closest honest stand-in for "a real
repository with thousands of commits": the files are real code that nobody
here wrote, and each commit's diff is the real change between two releases.
Each crate lives in its own directory; commits are ordered by version within
a crate and interleaved across crates. Author dates are synthetic (the
sparse index has none).

Downloads go to CACHE (default ~/.cache/clef-bench/crates) and are checked
against the index's sha256 before use.
"""
import concurrent.futures
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request

CRATES = ["serde", "syn", "tokio", "clap", "libc", "hyper", "regex", "reqwest",
          "rustls", "openssl", "log", "rand"]


def index_path(name):
    if len(name) <= 2:
        return f"{len(name)}/{name}"
    if len(name) == 3:
        return f"3/{name[0]}/{name}"
    return f"{name[:2]}/{name[2:4]}/{name}"


def fetch(url):
    req = urllib.request.Request(url, headers={"User-Agent": "clef-bench (bench/real_history.py)"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def version_key(v):
    m = re.match(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?", v)
    if not m:
        return ((0, 0, 0), 1, ())
    pre = m.group(4)
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in (pre or "").split(".") if p)
    return ((int(m.group(1)), int(m.group(2)), int(m.group(3))), 0 if pre else 1, parts)


def releases(name):
    lines = fetch(f"https://index.crates.io/{index_path(name)}").decode().splitlines()
    out = [json.loads(l) for l in lines if l.strip()]
    out.sort(key=lambda r: version_key(r["vers"]))
    return [(name, r["vers"], r["cksum"]) for r in out]


def download(cache, rel):
    name, vers, cksum = rel
    path = os.path.join(cache, f"{name}-{vers}.crate")
    if not os.path.exists(path):
        data = fetch(f"https://static.crates.io/crates/{name}/{name}-{vers}.crate")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != cksum:
        raise SystemExit(f"checksum mismatch for {name} {vers}")
    return path


def main():
    out = sys.argv[1]
    cache = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/.cache/clef-bench/crates")
    os.makedirs(cache, exist_ok=True)
    per_crate = [releases(c) for c in CRATES]
    everything = [r for rs in per_crate for r in rs]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        paths = dict(zip(everything, pool.map(lambda r: download(cache, r), everything)))
    # interleave: order by each release's position within its crate (0..1)
    order = sorted(
        ((i / len(rs), name_i, r) for name_i, rs in enumerate(per_crate) for i, r in enumerate(rs)),
        key=lambda t: (t[0], t[1]),
    )
    subprocess.run(["git", "init", "-q", "-b", "main", out], check=True)
    p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=out, stdin=subprocess.PIPE)
    w = p.stdin
    t0 = 1_500_000_000
    for n, (_, _, rel) in enumerate(order):
        name, vers, _ = rel
        ts = t0 + n * 3600
        msg = f"{name} {vers}".encode()
        w.write(b"commit refs/heads/main\n")
        w.write(f"author Release Bot <release@crates.invalid> {ts} +0000\n".encode())
        w.write(f"committer Release Bot <release@crates.invalid> {ts} +0000\n".encode())
        w.write(b"data %d\n%s\n" % (len(msg), msg))
        w.write(f"D {name}\n".encode())
        with tarfile.open(paths[rel], "r:gz") as tar:
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                if not rel or "\n" in rel or rel.startswith('"'):
                    continue
                data = tar.extractfile(m).read()
                mode = "100755" if m.mode & 0o111 else "100644"
                w.write(f"M {mode} inline {name}/{rel}\n".encode())
                w.write(b"data %d\n" % len(data))
                w.write(data)
                w.write(b"\n")
        w.write(b"\n")
    w.close()
    if p.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", out, "checkout", "-q", "-f", "main"], check=True)
    subprocess.run(["git", "-C", out, "repack", "-adq"], check=True)
    print(f"{len(order)} commits from {len(CRATES)} crates", file=sys.stderr)


if __name__ == "__main__":
    main()
