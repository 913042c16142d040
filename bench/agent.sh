#!/usr/bin/env bash
# Benchmark: clef-agent against AWS's Secrets Manager Agent (Rust, hyper),
# same machine, same run, same 50-key payload, loopback only.
#   clef-agent:  GET /v1/secrets            (file source, artifact from `clef pack`)
#   AWS agent:   GET /secretsmanager/get?secretId=bench   (moto_server as Secrets
#                Manager; measured from its warm cache: one request first)
# Load: wrk (Debian), 1 / 64 / 1000 connections, WRK_THREADS threads (default
# 2; never more than the connections), DURATION s each. PIN=1 pins wrk to CPU 0
# and both agents to CPU 1 (taskset), so the load generator cannot preempt the
# agent under test on a 2-core machine.
# PIN=same puts wrk and the agent on CPU 0: in this VM, waking an idle vCPU
# for a request costs milliseconds in 1-2% of requests (p99 ~2 ms even at one
# connection, for both agents); one shared core has no cross-CPU wake-ups.
# Also: peak RSS (VmHWM) of each agent after the load, and clef-agent's start
# to /v1/ready = 200 (median of 20 starts).
#   usage: bench/agent.sh
#   env:   ASM_AGENT (the AWS agent binary; default: built from its public
#          source with cargo into /tmp/asm-target), MOTO (moto_server; default:
#          the test venv's), DURATION (default 10), WRK_THREADS, PIN (above),
#          CLEF (the clef binary that packs the artifact; default: release build);
#          ASM_AGENT=none measures clef-agent alone
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${CLEF:-}" ]; then
  CLEF=$TARGET/release/clef
fi
# the workspace's feature set (as install.sh builds it): `-p clef-agent` alone
# would rebuild the dependency graph with other features
cargo build --release --workspace --bins >/dev/null
CLEF=$(realpath "$CLEF"); AGENT=$(realpath "$TARGET/release/clef-agent")
WRK_THREADS=${WRK_THREADS:-2}
case "${PIN:-0}" in
  1) ON_LOAD="taskset -c 0"; ON_AGENT="taskset -c 1" ;;
  same) ON_LOAD="taskset -c 0"; ON_AGENT="taskset -c 0" ;;
  *) ON_LOAD=""; ON_AGENT="" ;;
esac
VENV=${CLEF_TEST_CACHE:-$HOME/.cache/clef-test}/venv
MOTO=${MOTO:-$VENV/bin/moto_server}
PY=$VENV/bin/python
DURATION=${DURATION:-10}
if [ "${ASM_AGENT:-}" = none ]; then
  echo "ASM_AGENT=none: clef-agent alone, no AWS agent columns" >&2
elif [ -z "${ASM_AGENT:-}" ]; then
  ASM_AGENT=/tmp/asm-target/release/aws_secretsmanager_agent
  if [ ! -x "$ASM_AGENT" ]; then
    echo "ASM_AGENT not set: build it from github.com/aws/aws-secretsmanager-agent with" >&2
    echo "  CARGO_TARGET_DIR=/tmp/asm-target cargo build --release" >&2; exit 2
  fi
fi

W=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# the payload: 50 keys of 32 random characters
"$PY" - > "$W/import.env" <<'PY'
import random, string
random.seed(7)
for i in range(50):
    print(f"KEY_{i:02d}=" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32)))
PY
R="$W/repo"; mkdir -p "$R"; cd "$R"
git init -q -b main; git config user.name bench; git config user.email bench@example.invalid
"$CLEF" init --namespaces app --environments prod --backend age --non-interactive >/dev/null 2>&1
"$CLEF" import app/prod "$W/import.env" >/dev/null
SVC=$(age-keygen -o "$W/svc.txt" 2>&1 | sed 's/.*: //')
cat >> clef.yaml <<Y
service_identities:
  - name: bench
    description: bench
    namespaces: [app]
    environments:
      prod:
        recipient: $SVC
Y
"$CLEF" pack bench prod -o "$W/art.json" >/dev/null
cd - >/dev/null

TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
CPORT=$(free_port)
start_clef() {
  CLEF_AGENT_SOURCE="$W/art.json" CLEF_AGENT_AGE_KEY_FILE="$W/svc.txt" CLEF_AGENT_TOKEN="$TOKEN" \
    CLEF_AGENT_PORT="$CPORT" $ON_AGENT "$AGENT" >/dev/null 2>>"$W/clef-agent.log" &
  echo $!
}

# start to ready: 20 starts, median
"$PY" - "$AGENT" "$W" "$TOKEN" "$(free_port)" > "$W/ready.txt" <<'PY'
import os, socket, subprocess, sys, time
agent, w, token, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = dict(os.environ, CLEF_AGENT_SOURCE=f"{w}/art.json", CLEF_AGENT_AGE_KEY_FILE=f"{w}/svc.txt",
           CLEF_AGENT_TOKEN=token, CLEF_AGENT_PORT=str(port))
req = f"GET /v1/ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
times = []
for _ in range(20):
    t0 = time.perf_counter()
    p = subprocess.Popen([agent], env=env, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(req); r = s.recv(100); s.close()
            if b" 200 " in r:
                break
        except OSError:
            pass
        time.sleep(0.0005)
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
times.sort()
print(f"{times[len(times)//2]:.1f} {times[0]:.1f} {times[-1]:.1f}")
PY

CPID=$(start_clef); PIDS+=("$CPID")
for _ in $(seq 100); do curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CPORT/v1/secrets" && break; sleep 0.05; done
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CPORT/v1/secrets" > "$W/clef-body.json"

if [ "$ASM_AGENT" != none ]; then
# moto as Secrets Manager with the same 50 values (compact JSON of KEY: value)
MPORT=$(free_port)
"$MOTO" -H 127.0.0.1 -p "$MPORT" >"$W/moto.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$MPORT/moto-api/" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MPORT" AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
"$PY" - "$W" "$MPORT" <<'PY'
import json, sys, urllib.request
w, port = sys.argv[1], sys.argv[2]
vals = dict(l.strip().split("=", 1) for l in open(f"{w}/import.env") if "=" in l)
body = json.dumps({"Name": "bench", "SecretString": json.dumps(vals, separators=(",", ":"))}).encode()
r = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.CreateSecret",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00"})
urllib.request.urlopen(r).read()
PY
APORT=$(free_port)
cat > "$W/asm.toml" <<T
log_level = "ERROR"
log_to_file = false
http_port = "$APORT"
ttl_seconds = "300"
max_conn = "1000"
T
(cd "$W" && AWS_TOKEN="$TOKEN" $ON_AGENT "$ASM_AGENT" --config "$W/asm.toml" >"$W/asm.log" 2>&1) & PIDS+=($!)
APID=$!
AURL="http://127.0.0.1:$APORT/secretsmanager/get?secretId=bench"
for _ in $(seq 100); do curl -sf -o /dev/null -H "X-Aws-Parameters-Secrets-Token: $TOKEN" "$AURL" && break; sleep 0.1; done
curl -sf -H "X-Aws-Parameters-Secrets-Token: $TOKEN" "$AURL" > "$W/asm-body.json" || { cat "$W/asm.log" >&2; exit 1; }
ASM_PID=$(pgrep -f -n "$ASM_AGENT --config $W/asm.toml" || echo "$APID")
PIDS+=("$ASM_PID")
else
  echo "-" > "$W/asm-body.json"; ASM_PID=""
fi

run_wrk() { # url header conns -> "rps p50_ms p99_ms"
  $ON_LOAD wrk -t"$(( $3 < WRK_THREADS ? $3 : WRK_THREADS ))" -c"$3" -d"${DURATION}s" --latency -H "$2" "$1" > "$W/wrk.txt" 2>&1 || true
  "$PY" - "$W/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    n, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"99%\s+(\S+)", t).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: (.*)", t)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errs.group(1) if errs else 0} {('['+sock.group(1)+']').replace(' ','') if sock else '-'}")
PY
  [ $? = 0 ] || { echo "wrk output not understood:" >&2; cat "$W/wrk.txt" >&2; }
}
hwm() { [ -n "$1" ] && awk '/VmHWM/ {print $2/1024}' "/proc/$1/status" || echo -; }

echo "wrk threads: $WRK_THREADS; pinned: ${PIN:-0}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "payload: clef-agent $(wc -c < "$W/clef-body.json") bytes, AWS agent $(wc -c < "$W/asm-body.json") bytes (its JSON envelope around the same 50 values)"
echo
echo "| connections | clef-agent rps | AWS agent rps | clef / AWS | clef p50 / p99 (ms) | AWS p50 / p99 (ms) |"
echo "|---:|---:|---:|---:|---|---|"
for c in 1 64 1000; do
  read -r crps cp50 cp99 cerr csock <<<"$(run_wrk "http://127.0.0.1:$CPORT/v1/secrets" "Authorization: Bearer $TOKEN" "$c")"
  if [ -n "$ASM_PID" ]; then
    read -r arps ap50 ap99 aerr asock <<<"$(run_wrk "$AURL" "X-Aws-Parameters-Secrets-Token: $TOKEN" "$c")"
    ratio=$("$PY" -c "print(f'{$crps/$arps:.2f}x')")
  else
    arps=- ap50=- ap99=- aerr=0 asock=- ratio=-
  fi
  echo "| $c | $crps | $arps | $ratio | $cp50 / $cp99 | $ap50 / $ap99 |"
  [ "$cerr$aerr" = "00" ] || echo "  (non-2xx: clef $cerr, AWS $aerr; socket errors: clef $csock, AWS $asock)"
done
echo
echo "| | clef-agent | AWS agent |"
echo "|---|---:|---:|"
echo "| peak RSS after the runs (MB) | $(hwm "$CPID") | $(hwm "$ASM_PID") |"
read -r med lo hi < "$W/ready.txt"
echo "| start to /v1/ready = 200, file source (ms, median of 20; min-max) | $med ($lo-$hi) | - |"
