#!/usr/bin/env bash
# Which PostgreSQL client crate musicark should use, measured: postgres
# (sync; binary COPY) against sqlx (async; text COPY), on musicark's kind
# of work — a bulk load, row-at-a-time upserts in one transaction, point
# lookups — beside psql's \copy of the same rows (the peer).
#
#   scripts/bench-pg-clients.sh postgres://USER@HOST:PORT/DB [ROWS]
#
# The database must exist; the table `r` in it is replaced.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
url="${1:?usage: bench-pg-clients.sh postgres://USER@HOST:PORT/DB [ROWS]}"
rows="${2:-1000000}"
(cd "$root/scripts/pg-clients" && cargo build --release -q)
out="$("$root/scripts/pg-clients/target/release/pg-clients" "$url" "$rows")"
echo "$out"
tsv="$(echo "$out" | awk -F'\t' '$1 == "rows" {print $4}')"
[ -s "$tsv" ] || { echo "bench-pg-clients: measured nothing (no rows written)" >&2; exit 1; }
psql -q "$url" -c "DROP TABLE IF EXISTS r; CREATE TABLE r (recording_id BIGINT, mbid TEXT, title TEXT NOT NULL, artist_credit TEXT, length_ms BIGINT)"
start=$(date +%s.%N)
psql -q "$url" -c "\\copy r FROM '$tsv'"
mid=$(date +%s.%N)
psql -q "$url" -c "ALTER TABLE r ADD PRIMARY KEY (recording_id)"
end=$(date +%s.%N)
n=$(psql -tA "$url" -c "SELECT count(*) FROM r")
[ "$n" = "$rows" ] || { echo "bench-pg-clients: psql loaded $n of $rows rows" >&2; exit 1; }
printf 'psql\t\\copy (text)\t%.2f\ts\t+ key %.2f s\n' "$(echo "$mid - $start" | bc)" "$(echo "$end - $mid" | bc)"
rm -f "$tsv"
