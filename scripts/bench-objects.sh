#!/usr/bin/env bash
# The blob store against a real S3-compatible store on loopback (Garage,
# started here on its own ports), beside the peer in the same run:
#   1. musicark's blob store (`cargo xtask bench-blobs`): N files of M MiB
#      put (one PUT up to 16 MiB, multipart above, BLAKE3 checked as sent),
#      read back whole (hashed), and fetched as verified local copies, on
#      2 threads;
#   2. `aws s3 cp --recursive` (AWS CLI v2, Debian's) up and down with the
#      same files, its default 10 concurrent requests;
#   3. `musicark pack` of P preserved files of 4–8 MiB (`cargo xtask
#      gen-packbench`) whose blobs are in the bucket (streamed, hashed,
#      laid out by server-side copies), beside the same pack from local
#      blobs and mktorrent over the local pack directories;
#   4. with MUSICARK_BENCH_POSTGRES=postgres://USER@HOST/DB, the same
#      bucket archive moved to PostgreSQL and packed with `pack --queue`,
#      its hashing done by 1 and by 2 `musicark worker` processes.
#
#   scripts/bench-objects.sh [N] [MiB] [P]   # default 64 files of 24 MiB, P = 200; Markdown on stdout
#
# Needs awscli (apt-get install awscli). Disk: twice N×M MiB in $BENCH_DIR
# (files and Garage's copy) plus the peer's download.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-64}
mib=${2:-24}
pn=${3:-200}
work=${BENCH_DIR:-/tmp/musicark-objbench}
aws=$(command -v /usr/bin/aws || command -v aws) || { echo "bench-objects.sh: needs aws (apt-get install awscli)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/files"
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
export GARAGE_S3_PORT=${GARAGE_S3_PORT:-3920} GARAGE_RPC_PORT=${GARAGE_RPC_PORT:-3921}
garage_env=$("$root/scripts/garage.sh" start "$work/garage")
eval "$garage_env"
trap '"$root/scripts/garage.sh" stop "$work/garage"' EXIT
for i in $(seq "$n"); do
    head -c "$((mib << 20))" /dev/urandom > "$work/files/f$i.bin"
done
sync

"$bin" --archive "$work/archive" init --blobs "s3://$MUSICARK_TEST_S3_BUCKET/bench" \
    --s3-endpoint "$MUSICARK_TEST_S3" --s3-region garage > /dev/null
"$bindir/xtask" bench-blobs --archive "$work/archive" --files "$work/files" --threads 2 > "$work/ours.json"

export AWS_DEFAULT_REGION=garage
/usr/bin/time -f "%e" -o "$work/t.up" "$aws" --endpoint-url "$MUSICARK_TEST_S3" s3 cp --recursive --quiet "$work/files" "s3://$MUSICARK_TEST_S3_BUCKET/peer/"
/usr/bin/time -f "%e" -o "$work/t.down" "$aws" --endpoint-url "$MUSICARK_TEST_S3" s3 cp --recursive --quiet "s3://$MUSICARK_TEST_S3_BUCKET/peer/" "$work/down/"
cmp -s "$work/files/f1.bin" "$work/down/f1.bin" || measured_nothing "the peer's download differs"

# Packs from the bucket: the same synthetic archive twice, blobs on disk
# and blobs in the bucket (put there by bench-blobs, which times it).
"$bindir/xtask" gen-packbench --archive "$work/pb" --files "$pn" --kib 4096 > /dev/null
sed -i 's/^allow = .*/allow = ["open", "unknown"]/; s/^name = .*/name = "bench"/' "$work/pb/musicark.toml"
cp -al "$work/pb" "$work/pbs3"
rm -f "$work/pbs3"/catalog.sqlite* && cp "$work/pb/catalog.sqlite" "$work/pbs3/"
rm -rf "$work/pbs3/blobs"
sed -i "s|^format = 1$|format = 1\nblobs = \"s3://$MUSICARK_TEST_S3_BUCKET/packbench\"|" "$work/pbs3/musicark.toml"
printf '\n[s3]\nendpoint = "%s"\nregion = "garage"\n' "$MUSICARK_TEST_S3" >> "$work/pbs3/musicark.toml"
mkdir -p "$work/flat"
find "$work/pb/blobs" -type f -exec ln {} "$work/flat/" \;
"$bindir/xtask" bench-blobs --archive "$work/pbs3" --files "$work/flat" --threads 2 > /dev/null
find "$work/pb/blobs" -type f -print0 | xargs -0 cat > /dev/null
queued=${MUSICARK_BENCH_POSTGRES:+1}
if [ -n "$queued" ]; then
    server=${MUSICARK_BENCH_POSTGRES%/*}
    for q in q1 q2; do
        cp -a "$work/pbs3" "$work/pb$q"
        psql -X -q "$MUSICARK_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS musicark_bench_pack_$q" -c "CREATE DATABASE musicark_bench_pack_$q" 2> /dev/null
        "$bin" --archive "$work/pb$q" migrate --to "$server/musicark_bench_pack_$q" > /dev/null
    done
fi
# Packs of at most 300 MB: several of them, so that workers have packs to
# share.
packargs="--no-metadata --target-size 300MB"
/usr/bin/time -f "%e %M" -o "$work/t.pfs" "$bin" --archive "$work/pb" pack $packargs --json > "$work/pfs.json"
/usr/bin/time -f "%e %M" -o "$work/t.ps3" "$bin" --archive "$work/pbs3" pack $packargs --json > "$work/ps3.json"
python3 -c "import json, sys; h = [[p['btih'] for p in json.load(open(f))['packs']] for f in sys.argv[1:]]; sys.exit(0 if h[0] and h[0] == h[1] else 1)" "$work/pfs.json" "$work/ps3.json" \
    || measured_nothing "packs from the bucket differ from packs from disk"
if [ -n "$queued" ]; then
    for n in 1 2; do
        start=$(date +%s.%N)
        "$bin" --archive "$work/pbq$n" pack $packargs --queue --detach --json > /dev/null
        for _ in $(seq "$n"); do "$bin" --archive "$work/pbq$n" worker --once --json > /dev/null & done
        wait
        "$bin" --archive "$work/pbq$n" pack $packargs --queue --json > "$work/pq$n.json"
        echo "$(date +%s.%N) - $start" | bc > "$work/t.pq$n"
        python3 -c "import json, sys; h = [[p['btih'] for p in json.load(open(f))['packs']] for f in sys.argv[1:]]; sys.exit(0 if h[0] and h[0] == h[1] else 1)" "$work/pfs.json" "$work/pq$n.json" \
            || measured_nothing "packs hashed by workers differ from packs from disk"
        psql -X -q "$MUSICARK_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS musicark_bench_pack_q$n" 2> /dev/null || true
    done
fi
: > "$work/mk.cmds"
for name in $(python3 -c "import json; print(' '.join(p['name'] for p in json.load(open('$work/pfs.json'))['packs']))"); do
    pl=$("$bin" torrent show "$work/pb/torrents/$name.torrent" --json | python3 -c "import json,sys; print(max(15, json.load(sys.stdin)['piece_length'].bit_length()-1))")
    echo "mktorrent -t 2 -d -l $pl -o $work/mk-$name.torrent $work/pb/packs/$name" >> "$work/mk.cmds"
done
/usr/bin/time -f "%e %M" -o "$work/t.mk" sh -c "sh $work/mk.cmds > /dev/null"

python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
o = json.load(open(f"{work}/ours.json"))
up = float(open(f"{work}/t.up").read())
down = float(open(f"{work}/t.down").read())
mb = o["bytes"] / 1e6
if mb == 0:
    sys.exit("measured nothing")
rate = lambda s: mb / s
print(f"{o['files']} files, {mb:.0f} MB, Garage 2.5 on loopback, 2 threads:\n")
print("| step | musicark s | MB/s | aws s3 cp s | MB/s | ratio |")
print("|---|---|---|---|---|---|")
print(f"| upload | {o['put_seconds']:.2f} | {rate(o['put_seconds']):.0f} | {up:.2f} | {rate(up):.0f} | {o['put_seconds']/up:.2f}× |")
print(f"| download to local files | {o['local_copy_seconds']:.2f} | {rate(o['local_copy_seconds']):.0f} | {down:.2f} | {rate(down):.0f} | {o['local_copy_seconds']/down:.2f}× |")
print(f"| read whole, hashed (no file) | {o['get_seconds']:.2f} | {rate(o['get_seconds']):.0f} | | | |")
pfs = float(open(f"{work}/t.pfs").read().split()[0])
ps3 = float(open(f"{work}/t.ps3").read().split()[0])
mk = float(open(f"{work}/t.mk").read().split()[0])
packs = json.load(open(f"{work}/pfs.json"))["packs"]
data = sum(p["data_size"] for p in packs)
print(f"\n{len(packs)} packs of at most 300 MB, {data/1e9:.2f} GB in all (the same info-hashes every way):\n")
print("| step | wall s | vs mktorrent |")
print("|---|---|---|")
print(f"| musicark pack --no-metadata, blobs on disk | {pfs:.2f} | {pfs/mk:.2f}× |")
print(f"| musicark pack --no-metadata, blobs in the bucket (streamed, laid out by server-side copy) | {ps3:.2f} | {ps3/mk:.2f}× |")
import os
for n in (1, 2):
    if os.path.exists(f"{work}/t.pq{n}"):
        pq = float(open(f"{work}/t.pq{n}").read())
        print(f"| musicark pack --queue (PostgreSQL), hashed by {n} worker{'s' if n > 1 else ''} (queue, hash, record) | {pq:.2f} | {pq/mk:.2f}× |")
print(f"| mktorrent -t 2 over the local pack directories | {mk:.2f} | 1× |")
EOF
