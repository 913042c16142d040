#!/usr/bin/env python3
"""Generate benchmark inputs for bench/scan.sh (never committed).

  scan_synth.py tree DIR MB      a source tree of about MB megabytes: Rust,
                                 Python, JS, YAML, JSON and Markdown files
                                 built from realistic lines, with a fake
                                 secret planted about every 200 KB
  scan_synth.py history DIR N    a git repository with N commits (via
                                 git fast-import) over ~400 files; some
                                 commits add a fake secret that a later
                                 commit removes

All secret-shaped values are random (seeded) and were never issued.
"""
import os
import random
import string
import subprocess
import sys

rng = random.Random(424242)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
WORDS = ("request response handler config value buffer index cursor token_count reader writer "
         "parse render client server session user account order item price total message event "
         "queue worker task result error context state cache key_name path file line column "
         "stream frame packet header body length offset limit retry timeout backoff").split()


def ident():
    return "_".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def rs_line():
    t = rng.randint(0, 9)
    a, b = ident(), ident()
    if t == 0:
        return f"pub fn {a}(&self, {b}: &str) -> Result<{b.title().replace('_', '')}, Error> {{"
    if t == 1:
        return f"    let {a} = self.{b}.get(&key).ok_or(Error::Missing)?;"
    if t == 2:
        return f"    // {' '.join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))}"
    if t == 3:
        return f"    assert_eq!({a}.len(), {rng.randint(0, 4096)});"
    if t == 4:
        return f'    const {a.upper()}: &str = "{rng.choice(WORDS)}-{rng.randint(1, 99)}";'
    if t == 5:
        return f"    let digest = \"{''.join(rng.choice(HEX) for _ in range(64))}\";"
    if t == 6:
        return f"    match {a} {{ Some(v) => v.{b}(), None => return Ok(()) }}"
    if t == 7:
        return "    }"
    if t == 8:
        return f"impl {a.title().replace('_', '')} for {b.title().replace('_', '')} {{"
    return f"        .map(|x| x.{a}()).filter(|x| x.{b} > {rng.randint(0, 100)})"


def py_line():
    t = rng.randint(0, 6)
    a, b = ident(), ident()
    if t == 0:
        return f"def {a}(self, {b}=None):"
    if t == 1:
        return f"    {a} = self.{b}.get('{rng.choice(WORDS)}', {rng.randint(0, 100)})"
    if t == 2:
        return f"    # {' '.join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))}"
    if t == 3:
        return f"    password = os.environ.get('{a.upper()}_PASSWORD')"
    if t == 4:
        return f"    return {{'{a}': {b}, 'id': '{rng.getrandbits(128):032x}'}}"
    if t == 5:
        return f"    token = self._next_token({b})"
    return f"        raise ValueError(f'bad {a}: {{ {b}!r }}')"


def js_line():
    t = rng.randint(0, 5)
    a, b = ident(), ident()
    if t == 0:
        return f"export function {a}({b}) {{"
    if t == 1:
        return f"  const {a} = await fetch(`${{API_BASE}}/{rng.choice(WORDS)}/${{{b}}}`);"
    if t == 2:
        return f"  apiKey: process.env.{a.upper()}_API_KEY,"
    if t == 3:
        return f'  "integrity": "sha512-{"".join(rng.choice(ALNUM + "+/") for _ in range(86))}==",'
    if t == 4:
        return "  }"
    return f"  return {a}.{b}.map(x => x.{rng.choice(WORDS)});"


def yaml_line():
    t = rng.randint(0, 4)
    a = ident()
    if t == 0:
        return f"{a}:"
    if t == 1:
        return f"  {a}: {rng.randint(0, 65535)}"
    if t == 2:
        return f"  {a}: ${{{a.upper()}}}"
    if t == 3:
        return f"  image: registry.internal/{a}:{rng.randint(1, 9)}.{rng.randint(0, 20)}"
    return f"  - {rng.choice(WORDS)}"


KINDS = [(".rs", rs_line, 5), (".py", py_line, 2), (".js", js_line, 2), (".yaml", yaml_line, 1)]


def secret_line():
    c = rng.randint(0, 5)
    if c == 0:
        return "AWS_ACCESS_KEY_ID=AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    if c == 1:
        return "token = \"ghp_" + "".join(rng.choice(ALNUM) for _ in range(36)) + "\""
    if c == 2:
        return "STRIPE_SECRET_KEY=sk_live_" + "".join(rng.choice(ALNUM) for _ in range(24))
    if c == 3:
        return "DATABASE_URL=postgres://app:" + "".join(rng.choice(ALNUM) for _ in range(20)) + "@db:5432/app"
    if c == 4:
        return "SLACK_BOT_TOKEN=xoxb-" + str(rng.randrange(10**11, 10**12)) + "-" + str(rng.randrange(10**12, 10**13)) + "-" + "".join(rng.choice(ALNUM) for _ in range(24))
    return "db_password = \"" + "".join(rng.choice(ALNUM) for _ in range(14)) + "!\""


def pools(n=4000):
    return {ext: [gen() for _ in range(n)] for ext, gen, _ in KINDS}


def file_text(pool, ext, size):
    lines = []
    total = 0
    while total < size:
        chunk = rng.choices(pool[ext], k=200)
        lines.extend(chunk)
        total += sum(len(x) + 1 for x in chunk)
    if size > 2000 and rng.random() < min(1.0, size / 200_000):
        lines.insert(rng.randrange(len(lines)), secret_line())
    return "\n".join(lines) + "\n"


def tree(out, mb):
    pool = pools()
    target = mb * 1_000_000
    written = 0
    i = 0
    weights = [w for _, _, w in KINDS]
    while written < target:
        ext = rng.choices([k[0] for k in KINDS], weights=weights)[0]
        size = int(rng.lognormvariate(9.0, 1.0))  # median ~8 KB
        d = os.path.join(out, f"pkg{i % 97}", f"mod{i % 13}")
        os.makedirs(d, exist_ok=True)
        text = file_text(pool, ext, min(size, 2_000_000))
        with open(os.path.join(d, f"f{i}{ext}"), "w") as f:
            f.write(text)
        written += len(text)
        i += 1
    print(f"{i} files, {written / 1e6:.0f} MB in {out}", file=sys.stderr)


def history(out, n):
    os.makedirs(out, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", out], check=True)
    pool = pools(1500)
    files = {}
    exts = [k[0] for k in KINDS]
    for j in range(400):
        ext = rng.choice(exts)
        files[f"src/d{j % 20}/f{j}{ext}"] = file_text(pool, ext, int(rng.lognormvariate(8.5, 0.8)))
    p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=out, stdin=subprocess.PIPE)
    w = p.stdin

    def data(b):
        w.write(f"data {len(b)}\n".encode())
        w.write(b)
        w.write(b"\n")

    planted = []
    for c in range(n):
        ts = 1_700_000_000 + c * 3600
        w.write(b"commit refs/heads/main\n")
        w.write(f"author Dev{c % 7} <dev{c % 7}@example.test> {ts} +0000\n".encode())
        w.write(f"committer Dev{c % 7} <dev{c % 7}@example.test> {ts} +0000\n".encode())
        data(f"change {c}".encode())
        if c == 0:
            changed = list(files)
        else:
            changed = rng.sample(list(files), rng.randint(1, 4))
            for path in changed:
                lines = files[path].split("\n")
                ext = os.path.splitext(path)[1]
                for _ in range(rng.randint(1, 6)):
                    lines[rng.randrange(len(lines))] = rng.choice(pool[ext])
                if rng.random() < 0.01:
                    lines.insert(rng.randrange(len(lines)), secret_line())
                    planted.append(path)
                files[path] = "\n".join(lines)
        for path in changed:
            w.write(f"M 100644 inline {path}\n".encode())
            data(files[path].encode())
    w.close()
    p.wait()
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=out, check=True)
    print(f"{n} commits, {len(planted)} planted secrets in {out}", file=sys.stderr)


if __name__ == "__main__":
    mode, out, amount = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"tree": tree, "history": history}[mode](out, amount)
