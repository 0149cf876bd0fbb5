#!/usr/bin/env bash
# Torrent creation and verification beside the reference tools, same run,
# same files, page cache warm and cold:
#   v1 create:     musicark torrent create --v1   vs  mktorrent -d -t 2
#   hybrid create: musicark torrent create --hybrid  vs  libtorrent create_torrent + set_piece_hashes
#   verify:        musicark torrent verify  vs  libtorrent's full check of the same torrent
# Data: one 2 GiB file, 500 files of 4 MiB, 20 000 small files (1-64 KiB).
#
#   scripts/bench-torrent.sh          # Markdown on stdout; needs mktorrent,
#                                     # python3-libtorrent, GNU time; root
#                                     # for the cold runs (drop_caches)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/tmp/musicark-tbench}
helper="$root/crates/musicark/tests/it/lt_helper.py"
. "$root/scripts/bench-lib.sh"
bench_build
bin="$bindir/musicark"
mkdir -p "$work"

make_data() {
  [ -f "$work/.made" ] && return
  rm -rf "$work/big" "$work/mid" "$work/small"
  mkdir -p "$work/big" "$work/mid" "$work/small"
  head -c $((2 << 30)) /dev/urandom > "$work/big/one.bin"
  /usr/bin/python3 - "$work" <<'PY'
import os, random, sys
w = sys.argv[1]
random.seed(7)
for i in range(500):
    with open(f"{w}/mid/{i:03d}.bin", "wb") as f:
        f.write(os.urandom(4 << 20))
for i in range(20000):
    d = f"{w}/small/{i // 1000:02d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i:05d}.bin", "wb") as f:
        f.write(os.urandom(random.randint(1024, 65536)))
PY
  touch "$work/.made"
}

cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: cold runs are warm)" >&2; }
warm() { find "$1" -type f -print0 | xargs -0 cat > /dev/null; }

# run CACHE DATA CMD... -> "seconds rss_kib"
run() {
  local cache=$1 data=$2; shift 2
  if [ "$cache" = cold ]; then cold; else warm "$data"; fi
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2>&1 || { cat "$work/out" >&2; return 1; }
  cat "$work/time"
}

make_data
echo "| data | cache | task | musicark s | peer s | ratio (peer/ours) | musicark RSS MiB | peer RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for set in big mid small; do
  data="$work/$set"
  size=$(du -sb "$data" | cut -f1)
  if [ "$set" = small ]; then pl=65536; log=16; else pl=1048576; log=20; fi
  for cache in warm cold; do
    read -r o_s o_m < <(run $cache "$data" "$bin" torrent create "$data" -o "$work/o1.torrent" --v1 --piece-size $pl)
    rm -f "$work/m1.torrent"
    read -r p_s p_m < <(run $cache "$data" mktorrent -d -t 2 -l $log -a http://x/ -o "$work/m1.torrent" "$data"); rm -f "$work/m1.torrent"
    printf "| %s (%s) | %s | v1 create (%s pieces) | %.2f | %.2f | %.2f× | %.0f | %.0f |\n" "$set" "$(numfmt --to=iec "$size")" $cache "$(numfmt --to=iec $pl)" "$o_s" "$p_s" "$(echo "$p_s / $o_s" | bc -l)" "$(echo "$o_m/1024" | bc -l)" "$(echo "$p_m/1024" | bc -l)"
    read -r o_s o_m < <(run $cache "$data" "$bin" torrent create "$data" -o "$work/oh.torrent" --hybrid --piece-size $pl)
    read -r p_s p_m < <(run $cache "$data" /usr/bin/python3 "$helper" create "$data" "$work/lh.torrent" hybrid $pl)
    printf "| %s | %s | hybrid create | %.2f | %.2f | %.2f× | %.0f | %.0f |\n" "$set" $cache "$o_s" "$p_s" "$(echo "$p_s / $o_s" | bc -l)" "$(echo "$o_m/1024" | bc -l)" "$(echo "$p_m/1024" | bc -l)"
    read -r o_s o_m < <(run $cache "$data" "$bin" torrent verify "$work/o1.torrent" "$work")
    read -r p_s p_m < <(run $cache "$data" /usr/bin/python3 "$helper" check "$work/o1.torrent" "$work")
    grep -q '"progress": 1.0' "$work/out" || { echo "libtorrent check incomplete: $(cat "$work/out")" >&2; exit 1; }
    printf "| %s | %s | verify v1 | %.2f | %.2f | %.2f× | %.0f | %.0f |\n" "$set" $cache "$o_s" "$p_s" "$(echo "$p_s / $o_s" | bc -l)" "$(echo "$o_m/1024" | bc -l)" "$(echo "$p_m/1024" | bc -l)"
  done
done
echo
echo "Hybrid padding with many small files (20 000 files, $(du -sh "$work/small" | cut -f1) of data):"
for pl in 16384 65536 262144; do
  "$bin" torrent create "$work/small" -o "$work/pad.torrent" --hybrid --piece-size $pl --json > "$work/pad.json"
  python3 -c "import json; d=json.load(open('$work/pad.json')); print(f\"  piece {$pl//1024} KiB: {d['padding_bytes']/2**20:.0f} MiB of pad files ({d['padding_bytes']/d['total_length']*100:.0f} % of the data), {d['pieces']} pieces, {d['seconds']:.2f} s\")"
done
"$bin" torrent create "$work/small" -o "$work/pad.torrent" --hybrid --json > "$work/pad.json"
python3 -c "import json; d=json.load(open('$work/pad.json')); print(f\"  automatic ({d['piece_length']//1024} KiB): {d['padding_bytes']/2**20:.0f} MiB of pad files ({d['padding_bytes']/d['total_length']*100:.0f} %), {d['pieces']} pieces, {d['seconds']:.2f} s\")"
