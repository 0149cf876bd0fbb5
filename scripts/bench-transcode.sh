#!/usr/bin/env bash
# Re-encode throughput on the real corpus, both tools on both cores, same
# run: `musicark transcode F OUT --bitrate 96` against
# `ffmpeg -i F -c:a libopus -b:a 96k OUT` (Debian's ffmpeg, libopus 1.3.1),
# two files at a time each (xargs -P 2); then sizes and the fingerprint
# similarity of each copy with its source.
#
#   scripts/bench-transcode.sh [KBPS]   # Markdown on stdout
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
work=${BENCH_DIR:-/tmp/musicark-opusbench}
kbps=${1:-96}

corpus=$(bash "$shared/scripts/fetch-music-corpus.sh" 2>/dev/null | tail -n 1)
rm -rf "$work" && mkdir -p "$work/ours" "$work/ffmpeg"
. "$root/scripts/bench-lib.sh"
bench_build musicark
bin="$bindir/musicark"

find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' \) -print0 | sort -z > "$work/files"
nfiles=$(tr -cd '\0' < "$work/files" | wc -c)
[ "$nfiles" -gt 0 ] || measured_nothing "no audio files under $corpus"
audio=$(xargs -0 -n1 ffprobe -v error -show_entries format=duration -of csv=p=0 < "$work/files" | awk '{s+=$1} END {printf "%.1f", s}')
xargs -0 cat < "$work/files" > /dev/null

export bin work kbps
/usr/bin/time -f "%e %M" -o "$work/t.ours" sh -c 'xargs -0 -n 1 -P 2 sh -c '"'"'"$bin" transcode --bitrate "$kbps" "$0" "$work/ours/$(printf %s "$0" | tr / _).opus" > /dev/null'"'"' < "$work/files"'
/usr/bin/time -f "%e %M" -o "$work/t.ffmpeg" sh -c 'xargs -0 -n 1 -P 2 sh -c '"'"'ffmpeg -nostdin -v error -y -i "$0" -map 0:a -c:a libopus -b:a "${kbps}k" "$work/ffmpeg/$(printf %s "$0" | tr / _).opus"'"'"' < "$work/files"'
read -r o_s o_m < "$work/t.ours"
read -r f_s f_m < "$work/t.ffmpeg"
o_bytes=$(du -cb "$work"/ours/*.opus | tail -n 1 | cut -f1)
f_bytes=$(du -cb "$work"/ffmpeg/*.opus | tail -n 1 | cut -f1)

echo "Corpus: $nfiles files, $audio s of audio; Opus at $kbps kbit/s, two files at a time."
echo
echo "| tool | wall s | × realtime | peak RSS MiB (one process) | total bytes | kbit/s |"
echo "|---|---|---|---|---|---|"
awk -v s="$o_s" -v a="$audio" -v m="$o_m" -v b="$o_bytes" 'BEGIN { printf "| musicark transcode | %.2f | %.0f | %.0f | %d | %.1f |\n", s, a/s, m/1024, b, b*8/a/1000 }'
awk -v s="$f_s" -v a="$audio" -v m="$f_m" -v b="$f_bytes" 'BEGIN { printf "| ffmpeg -c:a libopus | %.2f | %.0f | %.0f | %d | %.1f |\n", s, a/s, m/1024, b, b*8/a/1000 }'
awk -v o="$o_s" -v f="$f_s" -v ob="$o_bytes" -v fb="$f_bytes" 'BEGIN { printf "\nmusicark / ffmpeg throughput: %.2f×; size: %.3f of libopus'"'"'s\n", f/o, ob/fb }'

# Fingerprint similarity of each copy with its source (ours and ffmpeg's).
xargs -0 "$bin" fingerprint --json < "$work/files" > "$work/src.jsonl"
"$bin" fingerprint --json "$work"/ours/*.opus > "$work/ours.jsonl"
"$bin" fingerprint --json "$work"/ffmpeg/*.opus > "$work/ffmpeg.jsonl"
python3 - "$work" <<'PY'
import json, sys, os
w = sys.argv[1]
def sim(a, b, m=8):
    best, short = 0.0, min(len(a), len(b))
    for off in range(-m, m + 1):
        a0, b0 = (0, off) if off >= 0 else (-off, 0)
        n = min(len(a) - a0, len(b) - b0)
        if short == 0 or n < (short + 1) // 2:
            continue
        err = sum(bin(a[a0 + i] ^ b[b0 + i]).count("1") for i in range(n))
        best = max(best, 1 - err / (32 * n))
    return best
src = {o["path"].replace("/", "_"): o for o in map(json.loads, open(f"{w}/src.jsonl"))}
for tool in ("ours", "ffmpeg"):
    sims = []
    for o in map(json.loads, open(f"{w}/{tool}.jsonl")):
        key = os.path.basename(o["path"])[: -len(".opus")]
        if key in src and o.get("fingerprint") and src[key].get("fingerprint"):
            sims.append(sim(src[key]["fingerprint"], o["fingerprint"]))
    print(f"{tool}: fingerprint similarity with the source over {len(sims)} files: mean {sum(sims)/len(sims):.4f}, min {min(sims):.4f}")
PY
