#!/usr/bin/env bash
# Every benchmark that can run in seconds at a small size, run that way on
# the debug build: a script that no longer works, or measures nothing (a
# rate of zero packs, errors counted as answers), fails here. CI runs it
# after the tests (.ci/run). Its figures mean nothing; BENCHMARKS.md's
# come from the full-size runs on a release build.
#
#   scripts/bench-smoke.sh
#
# Needs what those scripts need: mktorrent, GNU time, bc, sqlite3, wrk,
# nginx, curl, awscli, Garage (scripts/garage.sh builds it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MUSICARK_BENCH_PROFILE=dev
tmp=$(mktemp -d)
chmod 755 "$tmp"   # nginx workers (www-data when CI runs as root) read pages in it
trap 'rm -rf "$tmp"' EXIT
step() { # name command...
    local name=$1
    shift
    local started=$SECONDS
    if "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"; then
        echo "bench-smoke: $name ok ($((SECONDS - started)) s)"
    else
        echo "bench-smoke: $name FAILED" >&2
        cat "$tmp/$name.out" "$tmp/$name.err" >&2
        exit 1
    fi
}
step pack env BENCH_DIR="$tmp/pack" "$root/scripts/bench-pack.sh" 300
# The catalogue on PostgreSQL too when the tests' server is there (.ci/run).
step catalog env BENCH_DIR="$tmp/catalog" MUSICARK_BENCH_POSTGRES="${MUSICARK_TEST_POSTGRES:-}" "$root/scripts/bench-catalog.sh" 5000
step web env BENCH_DIR="$tmp/catalog" WRK_SECONDS=2 WARM_SECONDS=1 "$root/scripts/bench-web.sh" 5000
step follow env BENCH_DIR="$tmp/follow" "$root/scripts/bench-follow.sh" 3 200 2000
# The blob store against Garage (its own instance on other ports) beside aws s3 cp.
step objects env BENCH_DIR="$tmp/objects" MUSICARK_BENCH_POSTGRES="${MUSICARK_TEST_POSTGRES:-}" "$root/scripts/bench-objects.sh" 4 2 20
# The work queue's cost per job, when the tests' PostgreSQL is there (.ci/run).
if [ -n "${MUSICARK_TEST_POSTGRES:-}" ]; then
    step queue env BENCH_DIR="$tmp/queue" MUSICARK_BENCH_POSTGRES="$MUSICARK_TEST_POSTGRES" "$root/scripts/bench-queue.sh" 200
fi
