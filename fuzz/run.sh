#!/usr/bin/env bash
# Run every fuzz target seeded from the shared corpora, with inputs up to
# 1 MB and a per-input timeout of 2 s (so that a quadratic path is a finding,
# not just a slow run). Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Needs cargo-fuzz and a nightly toolchain (or RUSTC_BOOTSTRAP=1 on stable).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_upstream load_post url_policy read_opml canonical_url dates)
shared=$(cd ../../shared 2>/dev/null && pwd) || { echo "../shared is absent: no seeds" >&2; exit 1; }
seeds=seeds
mkdir -p "$seeds"
# One seed directory per kind of input; files over 1 MB are skipped.
seed() { # name, then find(1) arguments
  local name=$1; shift
  mkdir -p "$seeds/$name"
  find "$@" -type f -size -1024k -print0 | while IFS= read -r -d '' f; do
    cp "$f" "$seeds/$name/$(echo "$f" | md5sum | cut -c1-16)"
  done
}
[ -d "$seeds/feeds" ] || seed feeds "$shared/corpus/upstream" "$shared/corpus/feedparser-tests"
[ -d "$seeds/posts" ] || seed posts "$shared/corpus/lwkd/posts"
if [ ! -d "$seeds/lines" ]; then
  # URLs and dates as they appear in real feeds, one per seed.
  mkdir -p "$seeds/lines"
  cat "$shared"/corpus/upstream/feedparser.reference.jsonl \
    | grep -oE '"(https?://[^"]{1,200}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]{1,30})"' \
    | sort -u | sed -n 1,5000p | split -l 1 -a 4 - "$seeds/lines/l"
fi
for t in "${targets[@]}"; do
  case $t in
    parse_upstream|url_policy) dirs=("$seeds/feeds") ;;
    load_post) dirs=("$seeds/posts") ;;
    read_opml) dirs=("$seeds/feeds") ;;
    canonical_url|dates) dirs=("$seeds/lines") ;;
  esac
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: ${secs}s"
  cargo +nightly fuzz run "$t" -s none "corpus/$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -max_len=1048576 -timeout=2 -rss_limit_mb=4096 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs-$t.txt" 2>&1 || true
  grep -E "^(#[0-9]+ +DONE|Done|stat::|==[0-9]+== ERROR|SUMMARY|ALARM|artifact_prefix)|Test unit written" "logs-$t.txt" | tail -n 20
done
