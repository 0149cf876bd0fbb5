#!/usr/bin/env bash
# The work queue's own cost per job (issue 18): N no-op jobs claimed and
# finished by 1, 4 and 16 workers (threads with a connection each, as
# worker processes would have), on PostgreSQL (FOR UPDATE SKIP LOCKED,
# leases, fencing) and, for reference, on SQLite (one writer at a time).
#
#   MUSICARK_BENCH_POSTGRES=postgres://USER@HOST/DB scripts/bench-queue.sh [N]   # default 20000; Markdown on stdout
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-20000}
work=${BENCH_DIR:-/tmp/musicark-queuebench}
admin=${MUSICARK_BENCH_POSTGRES:?"set MUSICARK_BENCH_POSTGRES to a PostgreSQL server's URL"}
rm -rf "$work" && mkdir -p "$work"
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
server=${admin%/*}
db=musicark_bench_queue
psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2> /dev/null
"$bin" --archive "$work/pg" init --database "$server/$db" > /dev/null
"$bin" --archive "$work/sqlite" init > /dev/null
: > "$work/runs.jsonl"
for w in 1 4 16; do
    "$bindir/xtask" bench-queue --archive "$work/pg" --jobs "$n" --workers "$w" >> "$work/runs.jsonl"
    "$bindir/xtask" bench-queue --archive "$work/sqlite" --jobs "$n" --workers "$w" >> "$work/runs.jsonl"
done
psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $db" 2> /dev/null || true
python3 - "$work/runs.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
if not runs or any(r["jobs_per_second"] <= 0 for r in runs):
    sys.exit("measured nothing")
print(f"{runs[0]['jobs']} no-op jobs each run (claim + finish; enqueued one by one):\n")
print("| engine | workers | jobs/s | per job (ms) | enqueue s |")
print("|---|---|---|---|---|")
for r in runs:
    print(f"| {r['engine']} | {r['workers']} | {r['jobs_per_second']:.0f} | {1000/r['jobs_per_second']:.2f} | {r['enqueue_seconds']:.2f} |")
PY
