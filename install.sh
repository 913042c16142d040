#!/usr/bin/env bash
# Builds and installs every Clef binary (clef, clef-merge, clef-hook, clef-scan, clef-agent)
# into $PREFIX/bin (default ~/.local/bin), then runs a short self-check:
# a real encrypt -> decrypt round trip with a throw-away age key, in memory.
set -euo pipefail
cd "$(dirname "$0")"
PREFIX=${PREFIX:-$HOME/.local}
BIN="$PREFIX/bin"
mkdir -p "$BIN"
echo "==> building (release)"
cargo build --release --workspace --bins
# clef-scan: its own profile, one fat-LTO unit (Cargo.toml says why)
cargo build --profile scan -p clef-scan
installed=()
for b in clef clef-merge clef-hook clef-scan clef-agent; do
  dir=target/release
  [ "$b" = clef-scan ] && dir=target/scan
  if [ -x "$dir/$b" ]; then
    install -m 0755 "$dir/$b" "$BIN/$b"
    installed+=("$b")
  fi
done
echo "==> installed into $BIN: ${installed[*]}"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: $BIN is not on your PATH; add it: export PATH=\"$BIN:\$PATH\"";; esac

echo "==> self-check"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN/clef" self-check --dir "$tmp"
"$BIN/clef-agent" --version >/dev/null
echo "==> ok"
