#!/usr/bin/env bash
# Time to the first byte for a default qBittorrent (Debian's
# qbittorrent-nox 4.5, libtorrent 2.0, a fresh profile: µTP first, then
# TCP) downloading a published pack from one seeder on loopback:
#   - `musicark mirror` (librqbit) seeding the pack from its own data,
#     TCP only (its default) and with `--utp`,
#   - a libtorrent seeder (python3-libtorrent) of the same pack.
# Each seeder is the only peer a one-answer tracker hands out. ROUNDS
# runs of each (default 3).
#
#   scripts/bench-qbittorrent.sh [ROUNDS]
#
# Needs: qbittorrent-nox, python3-libtorrent, curl (apt-get install -y
# qbittorrent-nox python3-libtorrent curl).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
work=${QBT_DIR:-/tmp/musicark-qbt}
for tool in qbittorrent-nox curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y qbittorrent-nox python3-libtorrent curl)" >&2; exit 2; }
done
(cd "$root" && cargo build -q -p musicark)
bin="$root/target/debug/musicark"
helper="$root/crates/musicark/tests/it/lt_helper.py"
rm -rf "$work"; mkdir -p "$work"
"$bin" demo --no-serve --quiet --dir "$work/demo" > /dev/null
list="$work/demo/published/torrents.json"
pack=$(ls "$work/demo/packs" | grep -v metadata | head -1)
torrent="$work/demo/published/torrents/$pack.torrent"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A tracker that hands out one peer (the seeder under test).
cat > "$work/tracker.py" <<'PY'
import http.server, socket, struct, sys
peer_port = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        peers = socket.inet_aton("127.0.0.1") + struct.pack(">H", peer_port)
        body = b"d8:intervali30e5:peers6:" + peers + b"e"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY

pids=""
cleanup() { kill $pids 2>/dev/null || true; }
trap cleanup EXIT

# qBittorrent with a fresh profile and its default settings (only the
# Web UI's port and a known password are set, to drive it).
qbt_round() { # seeder-port -> seconds to the first byte
    local sport=$1 tport wport prof
    tport=$(free_port); wport=$(free_port); prof=$(mktemp -d "$work/qbt.XXXX")
    python3 "$work/tracker.py" "$tport" "$sport" & local tr=$!
    mkdir -p "$prof/qBittorrent/config"
    # Password "adminadmin" (PBKDF2 as qBittorrent 4.5 stores it).
    cat > "$prof/qBittorrent/config/qBittorrent.conf" <<CONF
[LegalNotice]
Accepted=true
[Preferences]
WebUI\\Port=$wport
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
CONF
    qbittorrent-nox --profile="$prof" > "$prof/log" 2>&1 & local qb=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$wport/api/v2/app/version" > /dev/null && break; sleep 0.1; done
    local t0 t1
    t0=$(date +%s.%N)
    curl -sf "http://127.0.0.1:$wport/api/v2/torrents/add" -F "torrents=@$torrent" -F "savepath=$prof/dl" > /dev/null
    local hash
    hash=$(python3 -c "import sys; sys.path.insert(0,''); import json,subprocess; print(json.loads(subprocess.check_output(['/usr/bin/python3','$helper','info','$torrent']))['v1'])")
    curl -sf "http://127.0.0.1:$wport/api/v2/torrents/addTrackers" --data "hash=$hash&urls=http://127.0.0.1:$tport/announce" > /dev/null
    local got=""
    for _ in $(seq 1200); do
        local done_bytes
        done_bytes=$(curl -sf "http://127.0.0.1:$wport/api/v2/torrents/info?hashes=$hash" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t[0]["downloaded"] if t else 0)')
        if [ "${done_bytes:-0}" -gt 0 ]; then got=1; break; fi
        sleep 0.1
    done
    t1=$(date +%s.%N)
    kill $qb $tr 2>/dev/null || true; wait $qb $tr 2>/dev/null || true
    if [ -n "$got" ]; then python3 -c "print(f'{$t1 - $t0:.1f}')"; else echo "none-in-120s"; fi
}

# Seeder 1: the mirror, from its own data (a restart: verified, seeded),
# with TCP only (the default) and with --utp.
for mode in tcp utp; do
    mirror_dir="$work/mirror-$mode"
    mkdir -p "$mirror_dir/data"
    cp -a "$work/demo/packs/." "$mirror_dir/data/"
    mport=$(free_port)
    extra=""; [ "$mode" = utp ] && extra="--utp"
    "$bin" mirror --list "$list" --pubkey "$list.pub" --budget 1GB --dir "$mirror_dir" $extra \
        --listen "127.0.0.1:$mport" --seed-secs 3600 --replan-secs 0 --stall-secs 30 --quiet > "$work/mirror-$mode.log" 2>&1 &
    mpid=$!
    pids="$pids $mpid"
    for _ in $(seq 300); do (echo > "/dev/tcp/127.0.0.1/$mport") 2>/dev/null && break; sleep 0.1; done
    sleep 2
    for r in $(seq "$rounds"); do echo "mirror ($mode)         round $r: $(qbt_round "$mport") s"; done
    kill $mpid 2>/dev/null || true
done

# Seeder 2: libtorrent.
lport_file="$work/lt.ports"
/usr/bin/python3 "$helper" seed "$torrent" "$work/demo/packs" "$lport_file" > "$work/lt.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 300); do [ -s "$lport_file" ] && break; sleep 0.1; done
lport=$(cut -d' ' -f1 "$lport_file")
for r in $(seq "$rounds"); do echo "libtorrent seeder    round $r: $(qbt_round "$lport") s"; done
