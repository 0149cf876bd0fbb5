-- A tenth of the recordings preserved and published: one content, one
-- copy and one place in a torrent of 1000 files each (rows only: what
-- scripts/bench-web.sh and the page-work test (crates/musicark/tests/it/
-- pagework.rs) measure is the pages' queries and rendering).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TEMP TABLE kept AS
  SELECT recording_id, printf('%064x', recording_id) AS cid, printf('%063xf', recording_id) AS oid,
         row_number() OVER (ORDER BY recording_id) - 1 AS k
  FROM recordings WHERE recording_id % 10 = 0;
INSERT INTO contents (content_id, sha256, size, stored, verdict, codec, lossless, duration_seconds, analyzer_version, analyzed_at)
  SELECT cid, cid, 30000000, 1, 'audio', 'flac', 1, 240.0, 1, '2026-01-01T00:00:00Z' FROM kept;
INSERT INTO matches (content_id, recording_id, status, method, confidence, evidence)
  SELECT cid, recording_id, 'linked', 'mbid', 1.0, 'MusicBrainz recording id in the tags' FROM kept;
INSERT INTO preserved (source_id, tier, kbps, output_id, bytes, duration, recording_id, made_at)
  SELECT cid, 'opus', 96, oid, 2900000, 240.0, recording_id, '2026-01-01T00:00:00Z' FROM kept;
INSERT INTO packs (pack_id, name, kind, band, tier, btih, torrent_size, num_files, data_size, manifest_sha256, created_at)
  SELECT DISTINCT k / 1000 + 1, printf('bench-top100-%05d', k / 1000 + 1), 'audio', 'top100', 'opus-96',
         printf('%040x', k / 1000 + 1), 60000, 1000, 2900000000, printf('%064x', 0), '2026-01-01T00:00:00Z' FROM kept;
INSERT INTO pack_files (pack_id, file_index, path, byte_offset, size, output_id, source_id, recording_id)
  SELECT k / 1000 + 1, k % 1000, printf('Artist %d/Release/%02d Title [%s].opus', recording_id % 5000, k % 20, substr(oid, 1, 10)),
         (k % 1000) * 2900000, 2900000, oid, cid, recording_id FROM kept;
COMMIT;
