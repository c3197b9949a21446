#!/usr/bin/env bash
# Runs the shared feed oracles (../shared/oracles) over real builds:
# the bundled example site and the full LWKD corpus (386 posts).
# Usage: .ci/oracles.sh PATH_TO_TRIBUTARY_BINARY
set -euo pipefail
bin=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
shared="$repo/../shared"
oracles="$shared/oracles"
if [ ! -x "$oracles/check-feed" ]; then
  echo "oracles: skipped: $oracles not found"
  exit 0
fi
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=

# 1. The bundled example site.
cp -r "$repo/tributary.yaml" "$repo/feeds" "$repo/content" "$work/"
mkdir -p "$work/example" && mv "$work/tributary.yaml" "$work/feeds" "$work/content" "$work/example/"
# Its combined feed with the local upstreams fetched (the GitHub ones fail
# offline and are reported; that is part of what is exercised).
"$bin" -C "$work/example" fetch
"$bin" -C "$work/example" build
# 2. LWKD: every post, a full archive feed and a main feed with RFC 5005 archives.
mkdir -p "$work/lwkd/content" "$work/lwkd/feeds"
cp "$shared"/corpus/lwkd/posts/*.md "$work/lwkd/content/"
cat >"$work/lwkd/tributary.yaml" <<'YAML'
title: Last Week in Kubernetes Development
description: Stay up-to-date on Kubernetes development in 15 minutes a week.
base_url: https://lwkd.info
language: en
author:
  name: LWKD
permalink: /:year/:year:month:day
YAML
printf 'title: LWKD, every edition\nlimit: all\n' >"$work/lwkd/feeds/all.yaml"
printf 'title: Last Week in Kubernetes Development\nlimit: 10\narchive: true\n' >"$work/lwkd/feeds/feed.yaml"
# 3. LWKD combined with real GitHub release feeds (captures in the upstream corpus).
{
  printf 'title: LWKD and releases\nlimit: 60\nupstreams:\n'
  for f in "$shared"/corpus/upstream/github-releases/*/releases.atom \
           "$shared"/corpus/upstream/github-releases/*/*/*releases.atom \
           "$shared"/corpus/upstream/feed-rs/feed-rs/fixture/atom/atom_example_6.xml; do
    [ -f "$f" ] && printf '  - url: %s\n' "$f"
  done
} >"$work/lwkd/feeds/stream.yaml"
"$bin" -C "$work/lwkd" fetch
"$bin" -C "$work/lwkd" build

files=$(cd "$work" && find example/public lwkd/public -type f \( -name '*.atom' -o -name '*.rss' -o -name '*.json' \) | sort)
echo "oracles: check-feed on $(echo "$files" | wc -l) documents"
(cd "$work" && "$oracles/check-feed" $files)
echo "oracles: readers-agree"
for f in $files; do
  case "$f" in lwkd/public/archive/feed-[2-9]*|lwkd/public/archive/feed-[1-9][0-9]*) continue ;; esac
  (cd "$work" && "$oracles/readers-agree" "$f" | tail -1)
done
if [ -x "$oracles/newsboat-check.sh" ]; then
  echo "oracles: newsboat over HTTP"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$work" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
  server=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
  urls=""
  for f in $files; do
    case "$f" in *.json) continue ;; esac
    case "$f" in lwkd/public/archive/*) continue ;; esac
    urls="$urls http://127.0.0.1:$port/$f"
  done
  "$oracles/newsboat-check.sh" $urls
fi
echo "oracles: ok"
