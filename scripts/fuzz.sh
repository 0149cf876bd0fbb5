#!/usr/bin/env bash
# Run the fuzz targets (cargo-fuzz, libFuzzer with AddressSanitizer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#       default: 600 s per target, every target, two at a time (2 cores)
#
# Targets: bencode, metainfo (torrents); audio (probe, decode and the
# structure walkers on any bytes); scrape (HTTP and UDP tracker answers);
# list (the torrent list parser and `list verify`); mapped (CSV / JSON
# Lines through a mapping); musicbrainz (dump lines of each entity).
#
# Corpora are seeded from ../shared/testdata (libtorrent's torrents,
# MusicBrainz records) and the real-music corpus when fetched, into the
# ignored fuzz/corpus, never committed. A crash is kept by libFuzzer in
# fuzz/artifacts/TARGET/ and printed at the end; every one found becomes a
# regression test. The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass the sanitizer flags it needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(bencode metainfo audio scrape list mapped musicbrainz)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
c="$root/fuzz/corpus"
mkdir -p "$c"/{metainfo,bencode,audio,scrape,list,mapped,musicbrainz}
cp -n "$shared"/testdata/libtorrent-torrents/*.torrent "$c/metainfo/" 2>/dev/null || true
cp -n "$shared"/testdata/libtorrent-torrents/*.torrent "$c/bencode/" 2>/dev/null || true
# MusicBrainz records: the first byte picks the entity (0 artist,
# 1 recording, 2 release), the rest is one dump line.
for f in "$shared"/testdata/musicbrainz-ws/*.json; do
  name=$(basename "$f" .json)
  case "$name" in
    artist*) b='\x00' ;; recording*) b='\x01' ;; release*) b='\x02' ;; *) continue ;;
  esac
  { printf "$b"; tr -d '\n' < "$f"; echo; } > "$c/musicbrainz/$name"
done
# Real audio, cut to its first 32 KiB (a cut file is a fine seed: the
# walkers must say where it ends); the first byte picks the extension.
corpus=${MUSICARK_CORPUS:-$HOME/.cache/musicark-corpus}/audio
if [ -d "$corpus" ]; then
  n=0
  find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' -o -name '*.flac' -o -name '*.wav' \) | sort | head -40 |
  while read -r f; do
    case "$f" in *.wav) b='\x00';; *.flac) b='\x01';; *.ogg) b='\x02';; *.mp3) b='\x04';; esac
    n=$((n + 1))
    { printf "$b"; head -c 32768 "$f"; } > "$c/audio/seed-$n"
  done
fi
printf '\x00RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\x00\x00\x00\x00' > "$c/audio/wav-header"
printf 'd5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei5e10:downloadedi50e10:incompletei2eeee' > "$c/scrape/http"
printf '\x00\x00\x00\x02\x12\x34\x56\x78\x00\x00\x00\x05\x00\x00\x00\x32\x00\x00\x00\x02' > "$c/scrape/udp"
printf '[{"url":"torrents/a.torrent","top_level_group_name":"g","group_name":"g-top1","display_name":"a.torrent","added_to_torrents_list_at":"2026-01-01","is_metadata":false,"btih":"0123456789abcdef0123456789abcdef01234567","magnet_link":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567","torrent_size":1,"num_files":1,"data_size":1,"obsolete":false,"embargo":false,"seeders":0,"leechers":0,"completed":0,"stats_scraped_at":null,"partially_broken":false,"btmh":null,"popularity_band":"top1","tier":"opus","tracks":1,"unique_tracks":1,"listen_share":0.5,"manifest_sha256":"00"}]' > "$c/list/one"
printf '\x00id,title,artist,isrc,mbid,ms,album,upc,year,license,plays,disc,track\n1,Song,Band,GBAHS1400099,,180000,Album,5012345678900,2001,CC-BY-4.0,10,1,1\n2,"Quoted, title",,bad-isrc,not-a-uuid,-5,,123,20x1,,,a,b\n' > "$c/mapped/csv"
printf '\x01{"id":"1","title":"Song","artist":"Band","isrc":"GBAHS1400099","ms":180000,"plays":3}\n{"id":2}\nnot json\n' > "$c/mapped/jsonl"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
# rayon's pool threads outlive every input (see fuzz/lsan.supp).
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cargo fuzz build -O
run() {
  cargo fuzz run -O "$1" "$c/$1" -- -max_total_time="$secs" -rss_limit_mb=1024 -timeout=30 -max_len=65536 > "$root/fuzz/$1.log" 2>&1 || true
}
# Two at a time: the machine has two cores.
i=0
for t in "${targets[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for t in "${targets[@]}"; do
  echo "== $t"
  grep -E "^#[0-9]+ *(DONE|pulse)|^Done|ERROR|panicked|SUMMARY" "$root/fuzz/$t.log" | tail -3
  ls "$root/fuzz/artifacts/$t" 2>/dev/null | sed 's/^/crash: /' || true
done
