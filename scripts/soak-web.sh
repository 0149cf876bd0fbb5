#!/usr/bin/env bash
# Soak: `musicark serve` under wrk while writers work on the same archive.
#
#   scripts/soak-web.sh [SECONDS]     default 600
#
# The archive is the demo's (`musicark demo --no-serve`). First a quiet
# run (wrk alone, 60 s) gives the reference p99; then wrk runs SECONDS
# against the same pages while, in a loop, a takedown and its reversal
# repack the archive (writer lock, new packs, obsoleted packs, a new
# list) and `health scrape` writes scrape rows. The server's RSS is
# sampled every 10 s. Targets (issue 16): 0 errors, RSS flat, p99 within
# 2x the quiet run.
#
# Needs: wrk, curl (apt-get install -y wrk curl).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
conns=${WRK_CONNECTIONS:-16}
work=${SOAK_DIR:-/tmp/musicark-soak}
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y wrk curl)" >&2; exit 2; }
done
(cd "$root" && cargo build --release -q -p musicark)
bin="$root/target/release/musicark"
rm -rf "$work"; mkdir -p "$work"
archive="$work/demo"
"$bin" demo --no-serve --quiet --dir "$archive" > /dev/null

# Pages: every recording page and a search for each title's first word.
python3 - "$archive" > "$work/paths" <<'PY'
import sqlite3, sys, urllib.parse
db = sqlite3.connect(f"file:{sys.argv[1]}/catalog.sqlite?mode=ro", uri=True)
for (rid, title) in db.execute("SELECT recording_id, title FROM recordings"):
    print(f"/recordings/{rid}")
    w = title.split()[0] if title.split() else "a"
    print("/search?q=" + urllib.parse.quote(w))
print("/")
print("/torrents")
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --archive "$archive" serve --bind "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
server=$!
writers=""
trap 'kill $server $writers 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/static/style.css" > /dev/null && break; sleep 0.1; done
rss() { ps -o rss= -p "$server" | awk '{printf "%.0f", $1/1024}'; }

wrk_run() { # seconds
    WRK_PATHS="$work/paths" wrk -t2 -c"$conns" -d"${1}s" --timeout 10s -s "$root/scripts/wrk-paths.lua" "http://127.0.0.1:$port" | grep '^RESULT'
}
WRK_PATHS="$work/paths" wrk -t2 -c"$conns" -d5s -s "$root/scripts/wrk-paths.lua" "http://127.0.0.1:$port" > /dev/null
echo "quiet   $(wrk_run ${QUIET_SECONDS:-60} | sed 's/^RESULT //')  rss=$(rss) MiB"

# Writers on the same archive, in a loop until stopped.
# A published recording: each takedown obsoletes its torrent and repacks.
rec=$(python3 -c "import sqlite3; print('rec:%d' % sqlite3.connect('file:$archive/catalog.sqlite?mode=ro', uri=True).execute('SELECT recording_id FROM pack_files WHERE recording_id IS NOT NULL LIMIT 1').fetchone()[0])")
(
  n=0
  while true; do
    "$bin" --archive "$archive" takedown "$rec" --reason "soak $n" --quiet > /dev/null 2>&1 || true
    "$bin" --archive "$archive" takedown reverse "$rec" --reason "soak $n" --quiet > /dev/null 2>&1 || true
    "$bin" --archive "$archive" list export --out "$work/pub/torrents.json" --quiet > /dev/null 2>&1 || true
    n=$((n + 1)); echo "$n" > "$work/repacks"
    sleep 1
  done
) &
writers="$!"
(
  while true; do
    "$bin" --archive "$archive" health scrape --tracker "udp://127.0.0.1:9/announce" --timeout-ms 200 > /dev/null 2>&1 || true
    sleep 1
  done
) &
writers="$writers $!"
: > "$work/rss"
( for _ in $(seq $((secs / 10))); do sleep 10; echo "$(rss)" >> "$work/rss"; done ) &
sampler=$!
echo "soak    $(wrk_run "$secs" | sed 's/^RESULT //')  repacks=$(cat "$work/repacks" 2>/dev/null || echo 0)"
wait "$sampler" 2>/dev/null || true
echo "rss every 10 s (MiB): $(tr '\n' ' ' < "$work/rss")"
packs=$(python3 -c "import sqlite3; print(sqlite3.connect('file:$archive/catalog.sqlite?mode=ro', uri=True).execute('SELECT count(*) FROM packs').fetchone()[0])")
echo "packs in the archive after the soak: $packs"
