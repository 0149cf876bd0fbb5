#!/usr/bin/env bash
# Catalogue import and query benchmark at N recordings (default 1 000 000):
# generate MusicBrainz- and ListenBrainz-shaped dumps, import them with
# every index (peak RSS, rate, database bytes per recording), then lookup
# and search latency; in the same run, the baseline of loading the same
# rows (recordings, credits, ISRCs) with the sqlite3 shell's .import
# from CSV, plus the same keys and indexes.
#
# With MUSICARK_BENCH_POSTGRES=postgres://USER@HOST/DB (a server's URL
# whose user may create databases), the same imports and queries run
# again on PostgreSQL in a fresh database, beside their own peer: psql's
# \copy of the same rows into tables with the same keys, indexes and
# foreign keys to recordings, in a second fresh database.
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
# Lookups and searches before the peer's load, whose writes the disk
# would still be flushing while they are timed.
sync
"$bindir/xtask" bench-catalog --archive "$work/archive" --queries 1000 > "$work/queries"
# Again once the database was read whole (into the OS's page cache, as a
# server's is after it has run a while on a machine whose memory holds
# it): the first run's slowest lookups wait for the disk.
cat "$work/archive/catalog.sqlite" > /dev/null
echo "after the database was read once:" >> "$work/queries"
"$bindir/xtask" bench-catalog --archive "$work/archive" --queries 1000 | grep -v '^recordings:' >> "$work/queries"

# Baselines: the same rows a recording import writes (recordings, their
# credits, their ISRCs) as CSV, loaded by the sqlite3 shell with the same
# keys and indexes.
python3 - "$work" <<'PY'
import csv, json, re, sys
w = sys.argv[1]
isrc_ok = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
artists = {}
with open(f"{w}/mbdump/recording") as src, \
     open(f"{w}/recordings.csv", "w", newline="") as rf, \
     open(f"{w}/credits.csv", "w", newline="") as cf, \
     open(f"{w}/isrcs.csv", "w", newline="") as isf:
    rec, cred, isr = csv.writer(rf), csv.writer(cf), csv.writer(isf)
    for n, line in enumerate(src, 1):
        r = json.loads(line)
        credits = r.get("artist-credit") or []
        credit = "".join((c.get("name") or "") + (c.get("joinphrase") or "") for c in credits)
        rec.writerow([n, r["id"], r.get("title") or "", credit, r.get("length"), int(bool(r.get("video"))), r.get("first-release-date")])
        for pos, c in enumerate(credits):
            a = (c.get("artist") or {}).get("id") or ""
            cred.writerow([n, pos, artists.setdefault(a, len(artists) + 1), c.get("name") or "", c.get("joinphrase") or ""])
        for i in sorted({(i or "").replace("-", "").upper() for i in r.get("isrcs") or []}):
            if isrc_ok.match(i):
                isr.writerow([i, n])
PY
read -r b_s b_m < <(t sqlite3 "$work/baseline.sqlite" \
  "CREATE TABLE recordings (recording_id INTEGER PRIMARY KEY, mbid TEXT, title TEXT NOT NULL, artist_credit TEXT, length_ms INTEGER, video INTEGER NOT NULL DEFAULT 0, first_release_date TEXT);" \
  "CREATE TABLE recording_artists (recording_id INTEGER NOT NULL, position INTEGER NOT NULL, artist_id INTEGER NOT NULL, credited_name TEXT NOT NULL, join_phrase TEXT NOT NULL, PRIMARY KEY (recording_id, position)) WITHOUT ROWID;" \
  "CREATE TABLE isrcs (isrc TEXT NOT NULL, recording_id INTEGER NOT NULL);" \
  ".mode csv" ".import $work/recordings.csv recordings" ".import $work/credits.csv recording_artists" ".import $work/isrcs.csv isrcs" \
  "CREATE UNIQUE INDEX recordings_mbid ON recordings(mbid);" \
  "CREATE INDEX recording_artists_artist ON recording_artists(artist_id);" \
  "CREATE UNIQUE INDEX isrcs_pk ON isrcs(isrc, recording_id);" \
  "CREATE INDEX isrcs_recording ON isrcs(recording_id);")

echo "| step | wall s | rows/s | peak RSS MiB |"
echo "|---|---|---|---|"
printf "| musicark import artists (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/artist")" "$a_s" "$(echo "$(wc -l < "$work/mbdump/artist") / $a_s" | bc -l)" "$(echo "$a_m/1024" | bc -l)"
printf "| musicark import recordings (%s) | %.1f | %.0f | %.0f |\n" "$n" "$r_s" "$(echo "$n / $r_s" | bc -l)" "$(echo "$r_m/1024" | bc -l)"
printf "| musicark import releases (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/release")" "$l_s" "$(echo "$(wc -l < "$work/mbdump/release") / $l_s" | bc -l)" "$(echo "$l_m/1024" | bc -l)"
printf "| musicark import popularity (%s) | %.1f | %.0f | %.0f |\n" "$(($(wc -l < "$work/listenbrainz.csv") - 1))" "$p_s" "$(echo "($(wc -l < "$work/listenbrainz.csv") - 1) / $p_s" | bc -l)" "$(echo "$p_m/1024" | bc -l)"
printf "| sqlite3 .import of the same rows (recordings, credits, ISRCs) + the same indexes | %.1f | %.0f | %.0f |\n" "$b_s" "$(echo "$n / $b_s" | bc -l)" "$(echo "$b_m/1024" | bc -l)"
echo
cat "$work/queries"

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
  # As above, timed before the peer's load; the server first writes out
  # what the imports left in its buffers (its checkpointer would
  # otherwise share the disk with the lookups).
  psql -X -q "$url" -c CHECKPOINT
  sync
  "$bindir/xtask" bench-catalog --archive "$work/pg-archive" --queries 1000 > "$work/pg-queries"
  # As above, again once the server has read its tables and indexes
  # (pg_prewarm's 'read': into the OS's page cache; shared_buffers stays
  # the server's own).
  if psql -X -q -v ON_ERROR_STOP=1 "$url" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c WHERE c.relkind IN ('r', 'i') AND c.relnamespace = 'public'::regnamespace" > /dev/null; then
    echo "after the database was read once:" >> "$work/pg-queries"
    "$bindir/xtask" bench-catalog --archive "$work/pg-archive" --queries 1000 | grep -v '^recordings:' >> "$work/pg-queries"
  else
    echo "(pg_prewarm unavailable to this user: not timed after a read)" >> "$work/pg-queries"
  fi
  read -r pb_s pb_m < <(t psql -X -q -v ON_ERROR_STOP=1 "$server/${db}_peer" \
    -c "CREATE TABLE recordings (recording_id BIGINT PRIMARY KEY, mbid TEXT COLLATE \"C\", title TEXT COLLATE \"C\" NOT NULL, artist_credit TEXT COLLATE \"C\", length_ms BIGINT, video BIGINT NOT NULL DEFAULT 0, first_release_date TEXT COLLATE \"C\")" \
    -c "CREATE TABLE recording_artists (recording_id BIGINT NOT NULL, position BIGINT NOT NULL, artist_id BIGINT NOT NULL, credited_name TEXT COLLATE \"C\" NOT NULL, join_phrase TEXT COLLATE \"C\" NOT NULL, PRIMARY KEY (recording_id, position))" \
    -c "CREATE TABLE isrcs (isrc TEXT COLLATE \"C\" NOT NULL, recording_id BIGINT NOT NULL)" \
    -c "\\copy recordings FROM '$work/recordings.csv' WITH (FORMAT csv)" \
    -c "\\copy recording_artists FROM '$work/credits.csv' WITH (FORMAT csv, FORCE_NOT_NULL (credited_name, join_phrase))" \
    -c "\\copy isrcs FROM '$work/isrcs.csv' WITH (FORMAT csv)" \
    -c "CREATE UNIQUE INDEX recordings_mbid ON recordings(mbid)" \
    -c "CREATE INDEX recording_artists_artist ON recording_artists(artist_id)" \
    -c "CREATE UNIQUE INDEX isrcs_pk ON isrcs(isrc, recording_id)" \
    -c "CREATE INDEX isrcs_recording ON isrcs(recording_id)" \
    -c "ALTER TABLE recording_artists ADD FOREIGN KEY (recording_id) REFERENCES recordings(recording_id)" \
    -c "ALTER TABLE isrcs ADD FOREIGN KEY (recording_id) REFERENCES recordings(recording_id)")
  echo
  echo "PostgreSQL ($(psql -X -tA "$admin" -c 'SHOW server_version'))"
  echo
  echo "| step | wall s | rows/s | peak RSS MiB |"
  echo "|---|---|---|---|"
  printf "| musicark import artists (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/artist")" "$pa_s" "$(echo "$(wc -l < "$work/mbdump/artist") / $pa_s" | bc -l)" "$(echo "$pa_m/1024" | bc -l)"
  printf "| musicark import recordings (%s) | %.1f | %.0f | %.0f |\n" "$n" "$pr_s" "$(echo "$n / $pr_s" | bc -l)" "$(echo "$pr_m/1024" | bc -l)"
  printf "| musicark import releases (%s) | %.1f | %.0f | %.0f |\n" "$(wc -l < "$work/mbdump/release")" "$pl_s" "$(echo "$(wc -l < "$work/mbdump/release") / $pl_s" | bc -l)" "$(echo "$pl_m/1024" | bc -l)"
  printf "| musicark import popularity (%s) | %.1f | %.0f | %.0f |\n" "$(($(wc -l < "$work/listenbrainz.csv") - 1))" "$pp_s" "$(echo "($(wc -l < "$work/listenbrainz.csv") - 1) / $pp_s" | bc -l)" "$(echo "$pp_m/1024" | bc -l)"
  printf "| psql \\\\copy of the same rows + the same indexes and keys | %.1f | %.0f | %.0f |\n" "$pb_s" "$(echo "$n / $pb_s" | bc -l)" "$(echo "$pb_m/1024" | bc -l)"
  printf "\nrecordings: musicark / psql \\\\copy = %.2f× the time\n" "$(echo "$pr_s / $pb_s" | bc -l)"
  echo
  cat "$work/pg-queries"
  for d in "$db" "${db}_peer"; do
    psql -X -q "$admin" -c "DROP DATABASE IF EXISTS $d" 2>/dev/null
  done
fi
