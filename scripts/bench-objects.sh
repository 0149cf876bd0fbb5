#!/usr/bin/env bash
# The blob store against a real S3-compatible store on loopback (Garage,
# started here on its own ports), beside the peer in the same run:
#   1. musicark's blob store (`cargo xtask bench-blobs`): N files of M MiB
#      put (one PUT up to 16 MiB, multipart above, BLAKE3 checked as sent),
#      read back whole (hashed), and fetched as verified local copies, on
#      2 threads;
#   2. `aws s3 cp --recursive` (AWS CLI v2, Debian's) up and down with the
#      same files, its default 10 concurrent requests.
#
#   scripts/bench-objects.sh [N] [MiB]   # default 64 files of 24 MiB; Markdown on stdout
#
# Needs awscli (apt-get install awscli). Disk: twice N×M MiB in $BENCH_DIR
# (files and Garage's copy) plus the peer's download.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-64}
mib=${2:-24}
work=${BENCH_DIR:-/tmp/musicark-objbench}
aws=$(command -v /usr/bin/aws || command -v aws) || { echo "bench-objects.sh: needs aws (apt-get install awscli)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/files"
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
export GARAGE_S3_PORT=${GARAGE_S3_PORT:-3920} GARAGE_RPC_PORT=${GARAGE_RPC_PORT:-3921}
eval "$("$root/scripts/garage.sh" start "$work/garage")"
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
EOF
