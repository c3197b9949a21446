#!/usr/bin/env bash
# Behaviour unchanged (issue 20): builds the bundled example site (fetch of
# its local upstreams, then build) and the LWKD corpus (main feed with
# archives, per-tag feeds, everything in one feed) with two binaries and
# compares the sha256 of every file each wrote.
#   .ci/same-output.sh [--allow-new] OLD_BIN NEW_BIN
# exits 0 when every output is the same; with --allow-new, files only the
# new binary writes are listed but allowed (a new page, say).
set -euo pipefail
allow_new=0
if [ "${1:-}" = --allow-new ]; then allow_new=1; shift; fi
old=$(realpath "$1"); new=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
shared="$repo/../shared"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

example() { # DIR: a copy of the bundled example site
  mkdir -p "$1"
  cp -r "$repo/tributary.yaml" "$repo/tributary.ledger" "$repo/content" "$repo/feeds" "$1/"
}
lwkd() { # DIR: the LWKD corpus as a site
  mkdir -p "$1/content" "$1/feeds"
  cp "$shared"/corpus/lwkd/posts/*.md "$1/content/"
  printf 'title: Last Week in Kubernetes Development\ndescription: Kubernetes development, weekly.\nbase_url: https://lwkd.info\nlanguage: en\nauthor:\n  name: LWKD\npermalink: /:year/:year:month:day\n' >"$1/tributary.yaml"
  printf 'title: LWKD\nlimit: 20\narchive: true\ncontent: both\n' >"$1/feeds/main.yaml"
  printf 'title: "LWKD: {tag}"\nper_tag: true\nlimit: all\n' >"$1/feeds/tags.yaml"
  printf 'title: LWKD, every edition\nlimit: all\n' >"$1/feeds/all.yaml"
}
run() { # BIN DIR
  if [ -d "$2/feeds/local" ]; then "$1" -C "$2" fetch >/dev/null 2>&1 || true; fi
  "$1" -C "$2" build >"$2.log" 2>&1 || { echo "build failed in $2:"; tail -5 "$2.log"; exit 1; }
  (cd "$2/public" && find . -type f ! -name '.*' -print0 | sort -z | xargs -0 sha256sum)
}

status=0
for site in example lwkd; do
  if [ "$site" = lwkd ] && [ ! -d "$shared/corpus/lwkd/posts" ]; then
    echo "skip lwkd: ../shared/corpus/lwkd is absent"; continue
  fi
  "$site" "$work/$site-old"; "$site" "$work/$site-new"
  run "$old" "$work/$site-old" >"$work/$site-old.sha"
  run "$new" "$work/$site-new" >"$work/$site-new.sha"
  n=$(wc -l <"$work/$site-old.sha")
  added=$(comm -13 <(awk '{print $2}' "$work/$site-old.sha") <(awk '{print $2}' "$work/$site-new.sha") | tr '\n' ' ')
  if [ "$allow_new" = 1 ] && [ -n "$added" ]; then
    awk -v added=" $added" 'index(added, " " $2 " ") == 0' "$work/$site-new.sha" >"$work/$site-new.kept"
    mv "$work/$site-new.kept" "$work/$site-new.sha"
  fi
  if cmp -s "$work/$site-old.sha" "$work/$site-new.sha"; then
    echo "$site: $n files, every sha256 the same${added:+; new: $added}"
  else
    echo "$site: outputs differ:"; { diff "$work/$site-old.sha" "$work/$site-new.sha" || true; } | head -20; status=1
  fi
done
exit $status
