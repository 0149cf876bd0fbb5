#!/usr/bin/env bash
# Web UI load: wrk (Debian) for 30 s against the search and recording pages
# of `musicark serve` on a catalogue of N recordings (default 1 000 000),
# a tenth of them given synthetic preserved copies in synthetic torrents
# (rows only: what is measured is the pages' queries and rendering). In the
# same run, the peer: nginx (Debian) serving a sample of the same pages
# saved as static files, the floor of HTTP on this machine.
#
#   scripts/bench-web.sh [N]        (WRK_SECONDS, WRK_CONNECTIONS to change)
#
# Needs: wrk, nginx, sqlite3, curl (apt-get install -y wrk nginx-light
# sqlite3 curl); the catalogue of scripts/bench-catalog.sh (made here when
# missing, ~2 GB for 1M).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000000}
secs=${WRK_SECONDS:-30}
conns=${WRK_CONNECTIONS:-16}
work=${BENCH_DIR:-/tmp/musicark-cbench}/$n
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
for tool in wrk nginx sqlite3 curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y wrk nginx-light sqlite3 curl)" >&2; exit 2; }
done

if [ ! -f "$work/archive/catalog.sqlite" ]; then
    mkdir -p "$work"
    [ -f "$work/mbdump/recording" ] || "$bindir/xtask" gen-catalog --recordings "$n" --out "$work"
    "$bin" --archive "$work/archive" init -q > /dev/null
    for e in artist recording release; do
        "$bin" --archive "$work/archive" catalog import musicbrainz "$work/mbdump/$e" --quiet > /dev/null
    done
    "$bin" --archive "$work/archive" catalog import listenbrainz "$work/listenbrainz.csv" --quiet > /dev/null
fi

web="$work/web"
rm -rf "$web"
mkdir -p "$web"
cp -a "$work/archive" "$web/archive"
archive="$web/archive"
"$bin" --archive "$archive" status > /dev/null   # migrate to this build's schema

# A tenth of the recordings preserved and published (the same rows as the
# page-work test).
sqlite3 "$archive/catalog.sqlite" < "$root/scripts/bench-web-rows.sql"

# The requests: 1000 searches (one or two words of random titles, as
# people type them) and 1000 recordings (a tenth preserved).
sqlite3 "$archive/catalog.sqlite" "SELECT title FROM recordings ORDER BY random() LIMIT 1000" \
  | python3 -c '
import sys, urllib.parse
for line in sys.stdin:
    words = line.split()[:2]
    if words:
        print("/search?q=" + urllib.parse.quote(" ".join(words)))
' > "$web/search.paths"
sqlite3 "$archive/catalog.sqlite" "SELECT '/recordings/' || recording_id FROM recordings ORDER BY random() LIMIT 1000" > "$web/recording.paths"


port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --archive "$archive" serve --bind "127.0.0.1:$port" > "$web/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; [ -f "$web/nginx.pid" ] && kill "$(cat "$web/nginx.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/static/style.css" > /dev/null && break; sleep 0.1; done
rss() { ps -o rss= -p "$server" | awk '{printf "%.0f", $1/1024}'; }

run() { # name paths-file base-url
    [ -s "$2" ] || measured_nothing "$1: no paths in $2"
    WRK_PATHS="$2" wrk -t2 -c"$conns" -d"${WARM_SECONDS:-5}s" -s "$root/scripts/wrk-paths.lua" "$3" > /dev/null   # warm-up
    local line
    line=$(WRK_PATHS="$2" wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s "$root/scripts/wrk-paths.lua" "$3" | grep '^RESULT')
    echo "$line" | sed "s/^RESULT/$1/"
    # Errors or non-2xx answers are failures, not figures.
    case "$line" in
        *" requests=0 "*|"") measured_nothing "$1: no request answered" ;;
        *" errors=0 non2xx=0 "*) ;;
        *) measured_nothing "$1: errors or non-2xx answers: $line" ;;
    esac
}

# The peer: the same pages as static files (a sample of 200 of each).
mkdir -p "$web/static/search" "$web/static/recordings"
: > "$web/search.static"; : > "$web/recording.static"
head -200 "$web/search.paths" | nl -nln | while read -r k p; do
    curl -sf "http://127.0.0.1:$port$p" -o "$web/static/search/$k.html"; echo "/search/$k.html" >> "$web/search.static"; done
head -200 "$web/recording.paths" | nl -nln | while read -r k p; do
    curl -sf "http://127.0.0.1:$port$p" -o "$web/static/recordings/$k.html"; echo "/recordings/$k.html" >> "$web/recording.static"; done
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$web/nginx.conf" <<NGINX
worker_processes 2;
pid $web/nginx.pid;
error_log $web/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/html;
  client_body_temp_path $web/nginx-tmp;
  server { listen 127.0.0.1:$nport; root $web/static; }
}
NGINX
mkdir -p "$web/nginx-tmp"
nginx -c "$web/nginx.conf" -p "$web"

echo "musicark serve on $n recordings ($(sqlite3 "$archive/catalog.sqlite" 'SELECT count(*) FROM preserved') preserved), wrk -t2 -c$conns -d${secs}s, $(nproc) cores shared with wrk"
run "musicark-search" "$web/search.paths" "http://127.0.0.1:$port"
run "musicark-recording" "$web/recording.paths" "http://127.0.0.1:$port"
# The cached pages (the coverage report and the list over the whole
# archive). The first request computes them, and the server's refresher
# keeps them current: it is timed on its own, so that the runs measure
# the pages served.
echo / > "$web/dashboard.paths"
echo /torrents > "$web/torrents.paths"
for p in / /torrents; do
    echo "musicark-first-request $p: $(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$p") s"
done
run "musicark-dashboard" "$web/dashboard.paths" "http://127.0.0.1:$port"
run "musicark-torrents" "$web/torrents.paths" "http://127.0.0.1:$port"
echo "musicark RSS after the runs: $(rss) MiB"
run "nginx-static-search" "$web/search.static" "http://127.0.0.1:$nport"
run "nginx-static-recording" "$web/recording.static" "http://127.0.0.1:$nport"
echo "mean page bytes: search $(cat "$web"/static/search/*.html | wc -c | awk '{printf "%.0f", $1/200}'), recording $(cat "$web"/static/recordings/*.html | wc -c | awk '{printf "%.0f", $1/200}')"
