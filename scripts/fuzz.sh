#!/usr/bin/env bash
# Run the fuzz targets (cargo-fuzz, libFuzzer with AddressSanitizer).
#
#   scripts/fuzz.sh [SECONDS]     default 600 per target, both targets in parallel
#
# The metainfo corpus is seeded from libtorrent's test torrents in
# ../shared/testdata (copied into the ignored fuzz/corpus, never committed).
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the
# sanitizer flags it needs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
secs=${1:-600}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
mkdir -p "$root/fuzz/corpus/metainfo" "$root/fuzz/corpus/bencode"
cp -n "$shared"/testdata/libtorrent-torrents/*.torrent "$root/fuzz/corpus/metainfo/" 2>/dev/null || true
cp -n "$shared"/testdata/libtorrent-torrents/*.torrent "$root/fuzz/corpus/bencode/" 2>/dev/null || true
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for t in bencode metainfo; do
  cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=1024 > "$root/fuzz/$t.log" 2>&1 &
done
wait
for t in bencode metainfo; do
  echo "== $t"; grep -E "^(Done|#[0-9]+ *DONE)|ERROR|panicked" "$root/fuzz/$t.log" | tail -3
done
