#!/usr/bin/env bash
# Catalogue import and query benchmark at N recordings (default 1 000 000):
# generate MusicBrainz- and ListenBrainz-shaped dumps, import them with
# every index (peak RSS, rate, database bytes per recording), then lookup
# and search latency; in the same run, the baseline of loading the same
# recording rows with the sqlite3 shell's .import from CSV (plus its MBID
# index).
#
# With MUSICARK_BENCH_POSTGRES=postgres://USER@HOST/DB (a server's URL
# whose user may create databases), the same imports and queries run
# again on PostgreSQL in a fresh database, beside their own peer: psql's
# \copy of the same recording rows into a table with the same key and
# MBID index, in a second fresh database.
#
#   scripts/bench-catalog.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000000}
work=${BENCH_DIR:-/tmp/musicark-cbench}/$n
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
mkdir -p "$work"
[ -f "$work/mbdump/recording" ] || "$bindir/xtask" gen-catalog --recordings "$n" --out "$work"
rm -rf "$work/archive" "$work/baseline.sqlite"
"$bin" --archive "$work/archive" init -q > /dev/null

t() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2>&1; cat "$work/time"; }
read -r a_s a_m < <(t "$bin" --archive "$work/archive" catalog import musicbrainz "$work/mbdump/artist" --quiet)
read -r r_s r_m < <(t "$bin" --archive "$work/archive" catalog import musicbrainz "$work/mbdump/recording" --quiet)
read -r l_s l_m < <(t "$bin" --archive "$work/archive" catalog import musicbrainz "$work/mbdump/release" --quiet)
read -r p_s p_m < <(t "$bin" --archive "$work/archive" catalog import listenbrainz "$work/listenbrainz.csv" --quiet)
got=$(sqlite3 "$work/archive/catalog.sqlite" "SELECT count(*) FROM recordings")
[ "$got" -ge $((n * 99 / 100)) ] || measured_nothing "$got recordings imported of $n (see $work/out)"

# Baseline: the same recordings as CSV rows, loaded by the sqlite3 shell.
python3 - "$work" <<'PY'
import csv, json, sys
w = sys.argv[1]
with open(f"{w}/mbdump/recording") as src, open(f"{w}/recordings.csv", "w", newline="") as dst:
    out = csv.writer(dst)
    out.writerow(["mbid", "title", "length_ms", "artist_credit"])
    for line in src:
        r = json.loads(line)
        credit = "".join(c["name"] + c["joinphrase"] for c in r["artist-credit"])
        out.writerow([r["id"], r["title"], r["length"], credit])
PY
read -r b_s b_m < <(t sqlite3 "$work/baseline.sqlite" \
  "CREATE TABLE recordings (recording_id INTEGER PRIMARY KEY, mbid TEXT, title TEXT, length_ms INTEGER, artist_credit TEXT);" \
  ".mode csv" ".import --skip 1 $work/recordings.csv recordings_csv" \
  "INSERT INTO recordings (mbid, title, length_ms, artist_credit) SELECT * FROM recordings_csv;" \
  "DROP TABLE recordings_csv;" "CREATE UNIQUE INDEX recordings_mbid ON recordings(mbid);")

echo "| step | wall s | rows/s | peak RSS MiB |"
echo "|---|---|---|---|"
printf "| musicark import artists (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/artist")" "$a_s" "$(echo "$(wc -l < "$work/mbdump/artist") / $a_s" | bc -l)" "$(echo "$a_m/1024" | bc -l)"
printf "| musicark import recordings (%s) | %.1f | %.0f | %.0f |\n" "$n" "$r_s" "$(echo "$n / $r_s" | bc -l)" "$(echo "$r_m/1024" | bc -l)"
printf "| musicark import releases (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/release")" "$l_s" "$(echo "$(wc -l < "$work/mbdump/release") / $l_s" | bc -l)" "$(echo "$l_m/1024" | bc -l)"
printf "| musicark import popularity (%s) | %.1f | %.0f | %.0f |\n" "$(($(wc -l < "$work/listenbrainz.csv") - 1))" "$p_s" "$(echo "($(wc -l < "$work/listenbrainz.csv") - 1) / $p_s" | bc -l)" "$(echo "$p_m/1024" | bc -l)"
printf "| sqlite3 .import of the recording rows + MBID index | %.1f | %.0f | %.0f |\n" "$b_s" "$(echo "$n / $b_s" | bc -l)" "$(echo "$b_m/1024" | bc -l)"
echo
"$bindir/xtask" bench-catalog --archive "$work/archive" --queries 1000

# PostgreSQL, when a server is named.
if [ -n "${MUSICARK_BENCH_POSTGRES:-}" ]; then
  admin=$MUSICARK_BENCH_POSTGRES
  server=${admin%/*}
  db="musicark_bench_$n"
  for d in "$db" "${db}_peer"; do
    psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" 2>/dev/null
  done
  url="$server/$db"
  rm -rf "$work/pg-archive"
  "$bin" --archive "$work/pg-archive" init -q --database "$url" > /dev/null
  read -r pa_s pa_m < <(t "$bin" --archive "$work/pg-archive" catalog import musicbrainz "$work/mbdump/artist" --quiet)
  read -r pr_s pr_m < <(t "$bin" --archive "$work/pg-archive" catalog import musicbrainz "$work/mbdump/recording" --quiet)
  read -r pl_s pl_m < <(t "$bin" --archive "$work/pg-archive" catalog import musicbrainz "$work/mbdump/release" --quiet)
  read -r pp_s pp_m < <(t "$bin" --archive "$work/pg-archive" catalog import listenbrainz "$work/listenbrainz.csv" --quiet)
  got=$(psql -X -tA "$url" -c "SELECT count(*) FROM recordings")
  [ "$got" -ge $((n * 99 / 100)) ] || measured_nothing "$got recordings imported into PostgreSQL of $n (see $work/out)"
  read -r pb_s pb_m < <(t psql -X -q -v ON_ERROR_STOP=1 "$server/${db}_peer" \
    -c "CREATE TABLE recordings (recording_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, mbid TEXT COLLATE \"C\", title TEXT, length_ms BIGINT, artist_credit TEXT)" \
    -c "\\copy recordings (mbid, title, length_ms, artist_credit) FROM '$work/recordings.csv' WITH (FORMAT csv, HEADER true)" \
    -c "CREATE UNIQUE INDEX recordings_mbid ON recordings(mbid)")
  echo
  echo "PostgreSQL ($(psql -X -tA "$admin" -c 'SHOW server_version'))"
  echo
  echo "| step | wall s | rows/s | peak RSS MiB |"
  echo "|---|---|---|---|"
  printf "| musicark import artists (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/artist")" "$pa_s" "$(echo "$(wc -l < "$work/mbdump/artist") / $pa_s" | bc -l)" "$(echo "$pa_m/1024" | bc -l)"
  printf "| musicark import recordings (%s) | %.1f | %.0f | %.0f |\n" "$n" "$pr_s" "$(echo "$n / $pr_s" | bc -l)" "$(echo "$pr_m/1024" | bc -l)"
  printf "| musicark import releases (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/release")" "$pl_s" "$(echo "$(wc -l < "$work/mbdump/release") / $pl_s" | bc -l)" "$(echo "$pl_m/1024" | bc -l)"
  printf "| musicark import popularity (%s) | %.1f | %.0f | %.0f |\n" "$(($(wc -l < "$work/listenbrainz.csv") - 1))" "$pp_s" "$(echo "($(wc -l < "$work/listenbrainz.csv") - 1) / $pp_s" | bc -l)" "$(echo "$pp_m/1024" | bc -l)"
  printf "| psql \\\\copy of the recording rows + MBID index | %.1f | %.0f | %.0f |\n" "$pb_s" "$(echo "$n / $pb_s" | bc -l)" "$(echo "$pb_m/1024" | bc -l)"
  printf "\nrecordings: musicark / psql \\\\copy = %.2f× the time\n" "$(echo "$pr_s / $pb_s" | bc -l)"
  echo
  "$bindir/xtask" bench-catalog --archive "$work/pg-archive" --queries 1000
  for d in "$db" "${db}_peer"; do
    psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $d" 2>/dev/null
  done
fi
