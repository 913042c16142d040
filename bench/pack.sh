#!/usr/bin/env bash
# Benchmark: `clef pack` of a service identity spanning 2 namespaces x 50 keys,
# to a file, Ed25519-signed, against the work the TypeScript Clef does for the
# same pack: one `sops decrypt` per cell (its packer shells out to sops for
# each cell, then encrypts with age and signs in node). The peer column is
# that lower bound, `sops decrypt` of both cells, run in the same session;
# the old tool's node start-up and its own age/sign steps come on top.
#   usage: bench/pack.sh      (needs hyperfine; installs it with apt if missing)
#   env:   SOPS_BIN (default: the test oracle), CLEF (default: <target>/release/clef),
#          RUNS (default 30), MOTO_SERVER (default: the test venv's moto_server;
#          the AWS rows are skipped without it), AWS_RUNS (default 10)
# Prints a markdown table: mean wall time, CPU time, and the ratio peer / clef.
# On a loaded machine the CPU column is the steadier figure.
set -euo pipefail
# hyperfine, a release clef ($CLEF), sops ($SOPS_BIN); at the repository root
. "$(dirname "$0")/common.sh"

MOTO_SERVER=${MOTO_SERVER:-${XDG_CACHE_HOME:-$HOME/.cache}/clef-test/venv/bin/moto_server}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
RUNS=${RUNS:-30}
R="$W/repo"; mkdir -p "$R"; cd "$R"
git init -q -b main; git config user.name bench; git config user.email bench@example.invalid
"$CLEF" init --namespaces api,web --environments production --non-interactive >/dev/null 2>&1
for ns in api web; do
  python3 - "$ns" > "$W/$ns.env" <<'PY'
import sys, random, string
random.seed(sys.argv[1])
for i in range(50):
    print(f"KEY_{i:03d}=" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32)))
PY
  "$CLEF" import "$ns/production" "$W/$ns.env" >/dev/null 2>&1
done
SVC=$(age-keygen 2>&1 >"$W/svc.txt" | sed -n 's/^Public key: //p')
printf 'service_identities:\n  - name: gw\n    description: gateway\n    namespaces: [api, web]\n    environments:\n      production:\n        recipient: %s\n' "$SVC" >> clef.yaml
SIGNING_KEY=$("$CLEF" keygen signing | sed -n 's/^CLEF_SIGNING_KEY=//p')
export CLEF_SIGNING_KEY="$SIGNING_KEY"
export SOPS_AGE_KEY_FILE; SOPS_AGE_KEY_FILE=$(sed -n 's/^age_key_file: "\(.*\)"$/\1/p' .clef/config.yaml)
# Check before timing: the artifact opens with the service's key and holds 100 keys.
"$CLEF" pack gw production -o "$W/a.json" >/dev/null
n=$(CLEF_AGE_KEY_FILE="$W/svc.txt" "$CLEF" envelope decrypt "$W/a.json" | wc -l)
[ "$n" = 100 ] || { echo "expected 100 keys, got $n" >&2; exit 1; }
A=secrets/api/production.enc.yaml B=secrets/web/production.enc.yaml
hyperfine -N -w 3 -r "$RUNS" --export-json "$W/h.json" \
  -n peer "bash -c '$SOPS_BIN decrypt $A >/dev/null && $SOPS_BIN decrypt $B >/dev/null'" \
  -n sops1 "$SOPS_BIN decrypt $A" \
  -n clef "$CLEF pack gw production -o $W/a.json" >/dev/null
python3 - "$W/h.json" "$RUNS" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c = r["clef"]["mean"] * 1000
print(f"clef pack, 2 namespaces x 50 keys, file, Ed25519 ({sys.argv[2]} runs)")
print("| command | mean wall (ms) | sigma (ms) | CPU user+sys (ms) | wall vs clef pack |")
print("|---|---:|---:|---:|---:|")
for name, label in [("clef", "`clef pack gw production -o FILE`"),
                    ("sops1", "one `sops decrypt` (one cell)"),
                    ("peer", "`sops decrypt` x 2 cells (old tool's floor)")]:
    m = r[name]["mean"] * 1000
    s = r[name]["stddev"] * 1000
    cpu = (r[name]["user"] + r[name]["system"]) * 1000
    print(f"| {label} | {m:.1f} | {s:.1f} | {cpu:.1f} | {m / c:.1f}x |")
PY

# Against moto (a local AWS on a free loopback port, started and stopped here):
# the Secrets Manager (json mode: one secret) and Parameter Store (100
# SecureStrings + their tags) backends. The old tool cannot run here; its
# documented cost is ~0.3 s per cell of sops + node before any AWS call, so the
# ratio column is against that 0.6 s floor for 2 cells.
if [ -x "$MOTO_SERVER" ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$MOTO_SERVER" -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill $MOTO_PID 2>/dev/null; rm -rf "$W"' EXIT
  E="http://127.0.0.1:$PORT"
  for _ in $(seq 50); do python3 -c "import urllib.request; urllib.request.urlopen('$E/moto-api/', timeout=1)" 2>/dev/null && break; sleep 0.2; done
  export AWS_ENDPOINT_URL_SECRETS_MANAGER=$E AWS_ENDPOINT_URL_SSM=$E AWS_ACCESS_KEY_ID=testing \
    AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_RUNS=${AWS_RUNS:-10}
  "$CLEF" pack gw production -b aws-secrets-manager --backend-opt prefix=bench/gw >/dev/null
  "$CLEF" pack gw production -b aws-parameter-store --backend-opt prefix=/bench/gw >/dev/null
  hyperfine -N -w 1 -r "$AWS_RUNS" --export-json "$W/aws.json" \
    -n sm "$CLEF pack gw production -b aws-secrets-manager --backend-opt prefix=bench/gw" \
    -n ssm "$CLEF pack gw production -b aws-parameter-store --backend-opt prefix=/bench/gw" >/dev/null
  python3 - "$W/aws.json" "$AWS_RUNS" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
print()
print(f"clef pack to AWS backends on moto, 100 keys ({sys.argv[2]} runs)")
print("| command | mean wall (ms) | sigma (ms) | CPU user+sys (ms) | old tool's 0.6 s floor / clef |")
print("|---|---:|---:|---:|---:|")
for name, label in [("sm", "`-b aws-secrets-manager` (json mode, 1 secret)"),
                    ("ssm", "`-b aws-parameter-store` (100 SecureStrings + tags)")]:
    m = r[name]["mean"] * 1000
    print(f"| {label} | {m:.1f} | {r[name]['stddev'] * 1000:.1f} | "
          f"{(r[name]['user'] + r[name]['system']) * 1000:.1f} | {600 / m:.1f}x |")
PY
fi
