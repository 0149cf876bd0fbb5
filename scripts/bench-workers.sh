#!/usr/bin/env bash
# Ingest and re-encoding through the work queue on this machine (issue
# 18): the real corpus, ingested by reference into archives on PostgreSQL
# three ways in the same run — `ingest` in one process (all cores), and
# `ingest --queue --detach` done by 1 and by 2 `musicark worker` processes
# — beside `fpcalc` over the same files on both cores (the fingerprinting
# peer; ingest also decodes fully, hashes and checks the spectrum). Then,
# with a policy that re-encodes everything at 96 kbit/s, preserved three
# ways — `preserve`, and `preserve --queue --detach` done by 1 and by 2
# workers — beside two parallel ffmpeg/libopus processes.
#
#   MUSICARK_BENCH_POSTGRES=postgres://USER@HOST/DB scripts/bench-workers.sh   # Markdown on stdout
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
work=${BENCH_DIR:-/tmp/musicark-workersbench}
admin=${MUSICARK_BENCH_POSTGRES:?"set MUSICARK_BENCH_POSTGRES to a PostgreSQL server's URL"}
corpus=$(bash "$shared/scripts/fetch-music-corpus.sh" 2>/dev/null | tail -n 1)
rm -rf "$work" && mkdir -p "$work/ffmpeg"
export work
. "$root/scripts/bench-lib.sh"
bench_build musicark
bin="$bindir/musicark"
server=${admin%/*}
archive() { # name: a fresh archive on its own database, the corpus ingested
    local db="musicark_bench_workers_$1"
    psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2> /dev/null
    "$bin" --archive "$work/$1" init --database "$server/$db" > /dev/null
    sed -i -e 's/^keep_lossy_up_to_kbps = .*/keep_lossy_up_to_kbps = 0/' -e 's/^unmatched_kbps = .*/unmatched_kbps = 96/' "$work/$1/musicark.toml"
}
for a in one w1 w2; do archive "$a"; done
find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' \) -print0 | sort -z > "$work/files"
xargs -0 cat < "$work/files" > /dev/null
/usr/bin/time -f "%e" -o "$work/t.ione" "$bin" --archive "$work/one" ingest --reference --quiet "$corpus" > /dev/null
"$bin" --archive "$work/w1" ingest --queue --detach --reference --quiet "$corpus" > /dev/null
/usr/bin/time -f "%e" -o "$work/t.iw1" "$bin" --archive "$work/w1" worker --once --json > /dev/null
"$bin" --archive "$work/w2" ingest --queue --detach --reference --quiet "$corpus" > /dev/null
start=$(date +%s.%N)
"$bin" --archive "$work/w2" worker --once --json > /dev/null &
"$bin" --archive "$work/w2" worker --once --json > /dev/null
wait
echo "$(date +%s.%N) - $start" | bc > "$work/t.iw2"
# (fpcalc fails on the corpus's one damaged file: its failure is not ours to report.)
/usr/bin/time -f "%e" -o "$work/t.fpcalc" sh -c 'xargs -0 -n 1 -P 2 fpcalc -length 0 < "$work/files" > /dev/null 2>&1 || true'
ingested=$("$bin" --archive "$work/w2" status --json | python3 -c "import json,sys; q=json.load(sys.stdin)['queue']; print(q['done'])")
/usr/bin/time -f "%e" -o "$work/t.one" "$bin" --archive "$work/one" preserve --quiet > /dev/null
"$bin" --archive "$work/w1" preserve --queue --detach --json > "$work/w1.json"
/usr/bin/time -f "%e" -o "$work/t.w1" "$bin" --archive "$work/w1" worker --once --json > /dev/null
"$bin" --archive "$work/w2" preserve --queue --detach --json > "$work/w2.json"
start=$(date +%s.%N)
"$bin" --archive "$work/w2" worker --once --json > /dev/null &
"$bin" --archive "$work/w2" worker --once --json > /dev/null
wait
echo "$(date +%s.%N) - $start" | bc > "$work/t.w2"
/usr/bin/time -f "%e" -o "$work/t.ffmpeg" sh -c 'xargs -0 -n 1 -P 2 sh -c '"'"'ffmpeg -nostdin -v error -y -i "$0" -map 0:a -c:a libopus -b:a 96k "$work/ffmpeg/$(printf %s "$0" | tr / _).opus"'"'"' < "$work/files"'
jobs=$(python3 -c "import json; print(json.load(open('$work/w1.json'))['queued'])")
[ "$jobs" -gt 0 ] || measured_nothing "nothing queued (see $work/w1.json)"
for a in w1 w2; do
    s=$("$bin" --archive "$work/$a" status --json | python3 -c "import json,sys; q=json.load(sys.stdin)['queue']; print(q['done'], q['failed'])")
    # The queue holds both runs' jobs: the files ingested and the re-encodes.
    [ "${s%% *}" = "$((jobs + ingested))" ] || measured_nothing "$a: $s of $((jobs + ingested)) jobs done/failed"
done
for a in one w1 w2; do
    psql -X -q "$admin" -c "DROP DATABASE IF EXISTS musicark_bench_workers_$a" 2> /dev/null || true
done
python3 - "$work" "$jobs" "$ingested" <<'PY'
import sys
work, jobs, ingested = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = {k: float(open(f"{work}/t.{k}").read()) for k in ("one", "w1", "w2", "ffmpeg", "ione", "iw1", "iw2", "fpcalc")}
print(f"{ingested} files ingested (the real corpus, by reference), PostgreSQL on loopback:\n")
print("| how | wall s | vs one ingest |")
print("|---|---|---|")
print(f"| `ingest` in one process (both cores) | {t['ione']:.2f} | 1× |")
print(f"| `ingest --queue`, 1 worker | {t['iw1']:.2f} | {t['iw1']/t['ione']:.2f}× |")
print(f"| `ingest --queue`, 2 workers | {t['iw2']:.2f} | {t['iw2']/t['ione']:.2f}× |")
print(f"| 2 × fpcalc -length 0 (fingerprints only) | {t['fpcalc']:.2f} | {t['fpcalc']/t['ione']:.2f}× |")
print()
print(f"{jobs} re-encodes (the real corpus at 96 kbit/s), PostgreSQL on loopback:\n")
print("| how | wall s | vs one preserve |")
print("|---|---|---|")
print(f"| `preserve` in one process (both cores) | {t['one']:.2f} | 1× |")
print(f"| `preserve --queue`, 1 worker | {t['w1']:.2f} | {t['w1']/t['one']:.2f}× |")
print(f"| `preserve --queue`, 2 workers | {t['w2']:.2f} | {t['w2']/t['one']:.2f}× |")
print(f"| 2 × ffmpeg -c:a libopus -b:a 96k | {t['ffmpeg']:.2f} | {t['ffmpeg']/t['one']:.2f}× |")
PY
