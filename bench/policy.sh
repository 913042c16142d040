#!/usr/bin/env bash
# Benchmark: `clef policy report` (rotation verdicts + in-process secret scan +
# lint) on a repository of 20 namespaces x 5 environments x 50 keys, against
# the sops work the TypeScript Clef's `clef policy report` does for the same
# repository: per cell one `sops filestatus` (its metadata) and one
# `sops decrypt` (its lint decrypts every cell). That peer column is a lower
# bound: the old tool's node start-up, its scan and its own work come on top.
#   usage: bench/policy.sh   (needs hyperfine; installs it with apt if missing)
#   env:   SOPS_BIN (default: the test oracle), CLEF (default: <target>/release/clef),
#          RUNS (default 10), WORK (default: a temp dir)
# Prints a markdown table: mean wall and CPU (user+sys) time, and the ratios peer / clef.
set -euo pipefail
# hyperfine, a release clef ($CLEF), sops ($SOPS_BIN); at the repository root
. "$(dirname "$0")/common.sh"
RUNS=${RUNS:-10}
WORK=${WORK:-$(mktemp -d)}
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config"
mkdir -p "$HOME"
R="$WORK/repo"
if [ ! -f "$R/clef.yaml" ]; then
  rm -rf "$R"; mkdir -p "$R"; cd "$R"
  git init -q -b main
  git config user.name Bench; git config user.email bench@clef.invalid
  ns=$(seq -f 'ns%02g' 1 20 | paste -sd,)
  "$CLEF" init --namespaces "$ns" --environments dev,qa,staging,canary,production >/dev/null 2>&1
  for i in $(seq 1 50); do printf 'KEY_%02d=value-%02d-%s\n' "$i" "$i" "$RANDOM$RANDOM"; done > "$WORK/keys.env"
  for n in $(seq -f 'ns%02g' 1 20); do
    for e in dev qa staging canary production; do
      "$CLEF" import "$n/$e" "$WORK/keys.env" >/dev/null 2>&1
    done
  done
  rm "$WORK/keys.env"
  git add -A; git commit -q --no-verify -m bench
fi
cd "$R"
KEY=$(ls "$HOME"/.config/clef/keys/*/keys.txt | head -1)
cells=$(ls secrets/*/*.enc.yaml | wc -l)
cat > "$WORK/peer.sh" <<PEER
for f in secrets/*/*.enc.yaml; do
  "$SOPS_BIN" filestatus "\$f" >/dev/null
  SOPS_AGE_KEY_FILE="$KEY" "$SOPS_BIN" decrypt "\$f" >/dev/null
done
PEER
hyperfine -N -w 1 -r "$RUNS" --export-json "$WORK/h.json" \
  "$CLEF policy report -o $WORK/compliance.json" \
  "bash $WORK/peer.sh" >/dev/null
python3 - "$WORK/h.json" "$cells" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
c, p = r[0], r[1]
cw, pw = c["mean"], p["mean"]
cc, pc = c["user"] + c["system"], p["user"] + p["system"]
# CPU time (user+sys, children included) is what a busy shared machine
# cannot inflate; wall time is what a CI job waits.
print(f"| repository | clef policy report: wall / CPU | old tool's sops floor ({sys.argv[2]} x filestatus + decrypt): wall / CPU | ratio wall / CPU |")
print("|---|---:|---:|---:|")
print(f"| 20 ns x 5 env x 50 keys | {cw*1000:.0f} ms / {cc*1000:.0f} ms | {pw*1000:.0f} ms / {pc*1000:.0f} ms | {pw/cw:.1f}x / {pc/cc:.1f}x |")
PY
