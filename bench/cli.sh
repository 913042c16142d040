#!/usr/bin/env bash
# Benchmark: the everyday `clef get` / `clef set` / `clef exec` against the
# equivalent real Go sops commands on the same cell (10 and 200 keys):
#   clef get  app/dev KEY        vs  sops decrypt --extract '["KEY"]' CELL
#   clef set  app/dev KEY VALUE  vs  sops set CELL '["KEY"]' '"VALUE"'
#   clef exec app/dev -- true    vs  sops exec-env CELL true
# Prints a markdown table (mean wall time and the sops/clef ratio).
#   usage: bench/cli.sh          (needs hyperfine; installs it with apt if missing)
#   env:   SOPS_BIN (default: the test oracle), CLEF (default: <target>/release/clef)
set -euo pipefail
# hyperfine, a release clef ($CLEF), sops ($SOPS_BIN); at the repository root
. "$(dirname "$0")/common.sh"

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
RUNS=${RUNS:-30}
echo "| cell | operation | sops 3.11 (ms) | clef (ms) | sops / clef |"
echo "|---|---|---:|---:|---:|"
for n in 10 200; do
  R="$W/repo$n"; mkdir -p "$R"; cd "$R"
  git init -q -b main; git config user.name bench; git config user.email bench@example.invalid
  "$CLEF" init --namespaces app --environments dev >/dev/null 2>&1
  python3 - "$n" > "$W/import.env" <<'PY'
import sys, random, string
random.seed(7)
for i in range(int(sys.argv[1])):
    print(f"KEY_{i:05d}=" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(24)))
PY
  "$CLEF" import app/dev "$W/import.env" >/dev/null 2>&1
  CELL=secrets/app/dev.enc.yaml
  KEYFILE=$(sed -n 's/^age_key_file: "\(.*\)"$/\1/p' .clef/config.yaml)
  export SOPS_AGE_KEY_FILE="$KEYFILE"
  K=KEY_00005
  # Both tools must agree before they are timed.
  [ "$("$CLEF" get app/dev $K)" = "$("$SOPS_BIN" decrypt --extract "[\"$K\"]" $CELL)" ] || { echo "clef and sops disagree" >&2; exit 1; }
  bench() { # name sops-cmd clef-cmd
    hyperfine -N -w 3 -r "$RUNS" --export-json "$W/h.json" -n sops "$2" -n clef "$3" >/dev/null
    python3 - "$W/h.json" "$n" "$1" <<'PY'
import json, sys
r = {x["command"]: x["mean"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"| {sys.argv[2]} keys | {sys.argv[3]} | {r['sops']:.1f} | {r['clef']:.1f} | {r['sops'] / r['clef']:.1f}x |")
PY
  }
  # hyperfine -N splits words like a shell: single quotes keep sops's JSON intact.
  bench get "$SOPS_BIN decrypt --extract '[\"$K\"]' $CELL" "$CLEF get app/dev $K"
  bench set "$SOPS_BIN set $CELL '[\"$K\"]' '\"bench-value\"'" "$CLEF set app/dev $K bench-value"
  bench exec "$SOPS_BIN exec-env $CELL true" "$CLEF exec app/dev -- true"
  "$SOPS_BIN" decrypt $CELL >/dev/null # the file clef wrote last is still valid for sops
  cd - >/dev/null
done
