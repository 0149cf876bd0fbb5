#!/usr/bin/env bash
# Ingest throughput on the real corpus, side by side in the same run with
#   (a) two parallel `ffmpeg -nostdin -v error -i F -f null -` decoders (the
#       near-limit: full validation is decoding), and
#   (b) the beets workflow that yields the same facts: `beet import -A -C -W`
#       then `beet bad` with badfiles checking every format with ffmpeg.
# Then peak RSS at 1x and 10x the corpus (10 distinct remuxed copies).
#
#   scripts/bench-ingest.sh            # results on stdout (Markdown)
#
# Needs ffmpeg, ffprobe, python3 (for a beets venv from PyPI, cached in
# ~/.cache/musicark-bench-venv) and GNU time. Page cache is warm for all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
work=${BENCH_DIR:-/tmp/musicark-bench}
venv=${BEETS_VENV:-$HOME/.cache/musicark-bench-venv}

corpus=$(bash "$shared/scripts/fetch-music-corpus.sh" 2>/dev/null | tail -n 1)
rm -rf "$work" && mkdir -p "$work"
. "$root/scripts/bench-lib.sh"
bench_build
bin="$bindir/musicark"

find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' \) -print0 | sort -z > "$work/files"
nfiles=$(tr -cd '\0' < "$work/files" | wc -c)
[ "$nfiles" -gt 0 ] || measured_nothing "no audio files under $corpus"
mbytes=$(xargs -0 du -cb < "$work/files" | tail -n 1 | awk '{printf "%.1f", $1/1048576}')
# The same denominator for every tool: the corpus's audio seconds per ffprobe.
audio=$(xargs -0 -n1 ffprobe -v error -show_entries format=duration -of csv=p=0 < "$work/files" | awk '{s+=$1} END {printf "%.1f", s}')
xargs -0 cat < "$work/files" > /dev/null   # warm the page cache

# measure LABEL CMD... -> "seconds peak_rss_kib"
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.$label" "$@" > "$work/out.$label" 2>&1
  cat "$work/time.$label"
}

row() { # label seconds rss audio_seconds
  awk -v l="$1" -v s="$2" -v r="$3" -v a="$4" -v n="$nfiles" -v m="$mbytes" \
    'BEGIN { printf "| %s | %.2f | %.1f | %.1f | %.0f | %.0f |\n", l, s, n/s, m/s, a/s, r/1024 }'
}

echo "corpus: $nfiles files, $mbytes MiB, $audio s of audio ($(nproc) cores)" >&2

read -r ff_s ff_rss < <(measure ffmpeg bash -c "xargs -0 -P2 -I{} ffmpeg -nostdin -v error -i {} -f null - < '$work/files'")

"$bin" --archive "$work/a-copy" init -q > /dev/null
read -r mc_s mc_rss < <(measure musicark-copy "$bin" --archive "$work/a-copy" ingest --quiet "$corpus")
"$bin" --archive "$work/a-ref" init -q > /dev/null
read -r mr_s mr_rss < <(measure musicark-ref "$bin" --archive "$work/a-ref" ingest --quiet --reference "$corpus")

# beets
if [ ! -x "$venv/bin/beet" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q beets
fi
cat > "$work/ffcheck" <<'SH'
#!/bin/sh
out=$(ffmpeg -nostdin -v error -i "$1" -f null - 2>&1)
[ -z "$out" ] && exit 0
echo "$out"; exit 1
SH
chmod +x "$work/ffcheck"
cat > "$work/beets.yaml" <<YAML
directory: $work/beets-music
library: $work/beets.db
import: { copy: no, write: no, autotag: no, quiet: yes, log: $work/beets-import.log }
plugins: badfiles
badfiles:
  check_on_import: no
  commands:
    ogg: $work/ffcheck
    mp3: $work/ffcheck
YAML
beet() { "$venv/bin/beet" -c "$work/beets.yaml" "$@"; }
export -f beet; export venv work
read -r bt_s bt_rss < <(measure beets bash -c "'$venv/bin/beet' -c '$work/beets.yaml' import -A -C -W -q '$corpus' && '$venv/bin/beet' -c '$work/beets.yaml' bad")
bt_audio=$("$venv/bin/beet" -c "$work/beets.yaml" stats -e | sed -n 's/.*(\([0-9.]*\) seconds).*/\1/p')
bt_items=$("$venv/bin/beet" -c "$work/beets.yaml" ls | wc -l)

# 10x: ten distinct copies (remuxed with a copy number in the tags).
mkdir -p "$work/corpus10"
for i in $(seq 1 10); do
  mkdir -p "$work/corpus10/$i"
  xargs -0 -P2 -I{} sh -c 'ffmpeg -nostdin -v error -i "$1" -map 0 -c copy -metadata musicark_copy='"$i"' "$2/$(basename "$1")"' _ {} "$work/corpus10/$i" < "$work/files"
done
audio10=$(find "$work/corpus10" -type f -print0 | xargs -0 -n1 ffprobe -v error -show_entries format=duration -of csv=p=0 | awk '{s+=$1} END {printf "%.1f", s}')
find "$work/corpus10" -type f -print0 | xargs -0 cat > /dev/null
"$bin" --archive "$work/a-10x" init -q > /dev/null
read -r m10_s m10_rss < <(measure musicark-10x "$bin" --archive "$work/a-10x" ingest --quiet --reference "$work/corpus10")

echo
echo "| tool | wall s | files/s | MiB/s | audio s per wall s | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
row "musicark ingest (copy into store)" "$mc_s" "$mc_rss" "$audio"
row "musicark ingest --reference" "$mr_s" "$mr_rss" "$audio"
row "2 × ffmpeg -f null (decode only)" "$ff_s" "$ff_rss" "$audio"
row "beets import -A -C -W + bad (ffmpeg)" "$bt_s" "$bt_rss" "$bt_audio"
echo
awk -v a="$audio" -v mc="$mc_s" -v ff="$ff_s" -v bt="$bt_s" -v ba="$bt_audio" 'BEGIN {
  m = a / mc; f = a / ff; b = ba / bt;
  printf "musicark (copy) / 2×ffmpeg: %.2f×   musicark (copy) / beets: %.2f×\n", m / f, m / b }'
echo "beets processed $bt_items items, $bt_audio s of audio"
awk -v a="$audio10" -v s="$m10_s" -v r="$m10_rss" -v r1="$mr_rss" 'BEGIN {
  printf "10× corpus (%.0f s of audio, --reference): %.2f s wall, %.0f audio s/s, peak RSS %.1f MiB (1×: %.1f MiB)\n", a, s, a/s, r/1024, r1/1024 }'
