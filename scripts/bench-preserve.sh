#!/usr/bin/env bash
# Preservation throughput on the real corpus, same run: `musicark preserve`
# (policy set to re-encode everything at 96 kbit/s: keep_lossy_up_to_kbps
# = 0, unmatched_kbps = 96) over an archive that ingested the corpus by
# reference, against two parallel `ffmpeg -c:a libopus -b:a 96k` processes
# over the same files.
#
#   scripts/bench-preserve.sh   # Markdown on stdout
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
work=${BENCH_DIR:-/tmp/musicark-preservebench}
corpus=$(bash "$shared/scripts/fetch-music-corpus.sh" 2>/dev/null | tail -n 1)
rm -rf "$work" && mkdir -p "$work/ffmpeg"
. "$root/scripts/bench-lib.sh"
bench_build musicark
bin="$bindir/musicark"
a="$work/archive"
"$bin" --archive "$a" init -q > /dev/null
sed -i -e 's/^keep_lossy_up_to_kbps = .*/keep_lossy_up_to_kbps = 0/' -e 's/^unmatched_kbps = .*/unmatched_kbps = 96/' "$a/musicark.toml"
grep -q '^keep_lossy_up_to_kbps = 0' "$a/musicark.toml"
"$bin" --archive "$a" ingest --reference --quiet "$corpus" > /dev/null
find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' \) -print0 | sort -z > "$work/files"
audio=$(xargs -0 -n1 ffprobe -v error -show_entries format=duration -of csv=p=0 < "$work/files" | awk '{s+=$1} END {printf "%.1f", s}')
xargs -0 cat < "$work/files" > /dev/null
/usr/bin/time -f "%e %M" -o "$work/t.ours" "$bin" --archive "$a" preserve --json > "$work/ours.json"
export work
/usr/bin/time -f "%e %M" -o "$work/t.ffmpeg" sh -c 'xargs -0 -n 1 -P 2 sh -c '"'"'ffmpeg -nostdin -v error -y -i "$0" -map 0:a -c:a libopus -b:a 96k "$work/ffmpeg/$(printf %s "$0" | tr / _).opus"'"'"' < "$work/files"'
read -r o_s o_m < "$work/t.ours"
read -r f_s f_m < "$work/t.ffmpeg"
made=$(python3 -c "import json,sys; s=json.load(open('$work/ours.json')); print(s['made'], s['kept_original'], len(s['failed']), s['bytes_out'])")
[ "${made%% *}" -gt 0 ] || measured_nothing "preserve made no copy (see $work/ours.json)"
echo "Corpus: $(tr -cd '\0' < "$work/files" | wc -c) files, $audio s of audio; made, kept, failed, bytes out: $made"
echo
echo "| tool (both cores) | wall s | × realtime | peak RSS MiB |"
echo "|---|---|---|---|"
awk -v s="$o_s" -v a="$audio" -v m="$o_m" 'BEGIN { printf "| musicark preserve (Opus 96) | %.2f | %.0f | %.0f |\n", s, a/s, m/1024 }'
awk -v s="$f_s" -v a="$audio" -v m="$f_m" 'BEGIN { printf "| 2 × ffmpeg -c:a libopus -b:a 96k | %.2f | %.0f | %.0f |\n", s, a/s, m/1024 }'
awk -v o="$o_s" -v f="$f_s" 'BEGIN { printf "\nmusicark preserve / 2 × ffmpeg: %.2f×\n", f/o }'
