#!/usr/bin/env bash
# Packing and list export at scale, same run:
#  1. a synthetic archive of N preserved files (`cargo xtask gen-packbench`:
#     random bytes of 16–32 KiB each, recordings with Zipf listens, releases,
#     3-minute fingerprints) packed with the default limits; beside it,
#     mktorrent (2 threads, same piece length) over the same pack
#     directories — the hashing a plain torrent tool does, without
#     manifests, SHA-256 or placement;
#  2. the same archive packed as hybrid (v1+v2, BEP 47): padding and
#     .torrent size against v1;
#  3. the same archive cut into 10 000 packs (--max-files N/10000), then
#     `list export` of those 10 000 torrents.
#
#   scripts/bench-pack.sh [N] [KIB]  # default 100000 files of 16–32 KiB; Markdown on stdout
#   scripts/bench-pack.sh 500 4096   # music-sized: 500 files of 4–8 MiB (3 GB)
#
# Disk: about 12 GB at N = 100 000 in $BENCH_DIR (three archives sharing
# their blobs by hard links, each with its own database, packs and
# manifests); delete it afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
kib=${2:-16}
work=${BENCH_DIR:-/tmp/musicark-packbench}
rm -rf "$work" && mkdir -p "$work"
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
"$bindir/xtask" gen-packbench --archive "$work/base" --files "$n" --kib "$kib" > /dev/null
# Three copies sharing the blobs (hard links), each with its own database.
for v in v1 plain hybrid many; do
  cp -al "$work/base" "$work/$v"
  rm -f "$work/$v"/catalog.sqlite*
  cp "$work/base/catalog.sqlite" "$work/$v/catalog.sqlite"
  sed -i "s/^name = .*/name = \"bench\"/" "$work/$v/musicark.toml"
  # The synthetic files carry no licence: publish them anyway (this
  # measures packing, not the rights policy, which would withhold all).
  sed -i 's/^allow = .*/allow = ["open", "unknown"]/' "$work/$v/musicark.toml"
done
sync
find "$work/base/blobs" -type f -print0 | xargs -0 cat > /dev/null

/usr/bin/time -f "%e %M" -o "$work/t.v1" "$bin" --archive "$work/v1" pack --json > "$work/v1.json"
audio=$(python3 -c "import json; print(sum(1 for p in json.load(open('$work/v1.json'))['packs'] if p['band'] != 'metadata'))")
[ "$audio" -gt 0 ] || measured_nothing "0 audio packs from $n files (see $work/v1.json)"
# mktorrent over the same pack directories, with our piece length (at
# least 32 KiB, mktorrent's least: only tiny smoke-run packs have less).
python3 - "$work" > "$work/packs.txt" <<'EOF'
import json, sys
for p in json.load(open(sys.argv[1] + "/v1.json"))["packs"]:
    if p["band"] != "metadata":
        print(p["name"])
EOF
: > "$work/mk.cmds"
while read -r name; do
  pl=$("$bin" torrent show "$work/v1/torrents/$name.torrent" --json | python3 -c "import json,sys; print(max(15, json.load(sys.stdin)['piece_length'].bit_length()-1))")
  echo "mktorrent -t 2 -d -l $pl -o $work/mk-$name.torrent $work/v1/packs/$name" >> "$work/mk.cmds"
done < "$work/packs.txt"
/usr/bin/time -f "%e %M" -o "$work/t.mk" sh -c "sh $work/mk.cmds > /dev/null"
/usr/bin/time -f "%e %M" -o "$work/t.plain" "$bin" --archive "$work/plain" pack --no-metadata --json > /dev/null
/usr/bin/time -f "%e %M" -o "$work/t.hybrid" "$bin" --archive "$work/hybrid" pack --hybrid --no-metadata --json > "$work/hybrid.json"
per=$(( (n + 9999) / 10000 ))
/usr/bin/time -f "%e %M" -o "$work/t.many" "$bin" --archive "$work/many" pack --max-files "$per" --no-metadata --json > "$work/many.json"
/usr/bin/time -f "%e %M" -o "$work/t.export" "$bin" --archive "$work/many" list export --out "$work/list/torrents.json" --json > /dev/null
"$bin" --archive "$work/many" list verify "$work/list/torrents.json" > "$work/verify.txt"
/usr/bin/time -f "%e %M" -o "$work/t.verify" "$bin" --archive "$work/many" list verify "$work/list/torrents.json" > /dev/null

read -r v1_s v1_m < "$work/t.v1"
read -r mk_s mk_m < "$work/t.mk"
read -r pl_s pl_m < "$work/t.plain"
read -r hy_s hy_m < "$work/t.hybrid"
read -r many_s many_m < "$work/t.many"
read -r ex_s ex_m < "$work/t.export"
read -r ve_s ve_m < "$work/t.verify"
data=$(du -sb --apparent-size "$work/base/blobs" | cut -f1)
python3 - "$work" "$bin" <<EOF
import json, subprocess, sys
work, bin = sys.argv[1], sys.argv[2]
def pads(name, d):
    s = json.loads(subprocess.check_output([bin, "torrent", "show", f"{work}/{d}/torrents/{name}.torrent", "--json"]))
    return sum(f["length"] for f in s["files"] if f.get("pad")), __import__("os").path.getsize(f"{work}/{d}/torrents/{name}.torrent")
v1 = [p for p in json.load(open(f"{work}/v1.json"))["packs"] if p["band"] != "metadata"]
hy = [p for p in json.load(open(f"{work}/hybrid.json"))["packs"]]
many = json.load(open(f"{work}/many.json"))["packs"]
data = sum(p["data_size"] for p in v1)
v1_t = sum(pads(p["name"], "v1")[1] for p in v1)
hp = [pads(p["name"], "hybrid") for p in hy]
print(f"Archive: $n preserved files of $kib–{2*$kib} KiB, {data/1e9:.2f} GB; default limits gave {len(v1)} audio packs (+ metadata release); --max-files $per gave {len(many)} packs.")
print()
print("| step | wall s | peak RSS MiB | note |")
print("|---|---|---|---|")
print(f"| musicark pack (v1, manifests, SHA-256, metadata release) | $v1_s | {$v1_m/1024:.0f} | {$n/$v1_s:.0f} files/s |")
print(f"| musicark pack --no-metadata (the audio packs alone: the data mktorrent hashes) | $pl_s | {$pl_m/1024:.0f} | |")
print(f"| mktorrent -t 2, same pack dirs and piece length | $mk_s | {$mk_m/1024:.0f} | hashing only |")
print(f"| musicark pack --hybrid | $hy_s | {$hy_m/1024:.0f} | padding {sum(p[0] for p in hp)/data*100:.1f} % of data; .torrent {sum(p[1] for p in hp)/1e6:.1f} MB vs v1 {v1_t/1e6:.1f} MB |")
print(f"| musicark pack --max-files $per ({len(many)} packs) | $many_s | {$many_m/1024:.0f} | |")
print(f"| musicark list export ({len(many)} torrents, JSON + CSV + 2 signatures + copies of the .torrent files) | $ex_s | {$ex_m/1024:.0f} | |")
print(f"| musicark list verify ({len(many)} torrents) | $ve_s | {$ve_m/1024:.0f} | |")
print()
print(f"musicark pack --no-metadata / mktorrent: {$pl_s/$mk_s:.2f}× the time (with the metadata release: {$v1_s/$mk_s:.2f}×)")
EOF
