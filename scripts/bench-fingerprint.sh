#!/usr/bin/env bash
# Fingerprint throughput and agreement on the real corpus, side by side in
# the same run with fpcalc (Chromaprint + ffmpeg), both on both cores:
#   musicark fingerprint --json --jobs 2 FILES...
#   two parallel `fpcalc -raw -length 0 -json F` (xargs -P 2)
# then the mean/min aligned bit similarity of the two fingerprints per file.
#
#   scripts/bench-fingerprint.sh [ROUNDS]   # Markdown on stdout
#
# Needs fpcalc (libchromaprint-tools), ffprobe and python3. Warm page cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${MUSICARK_SHARED:-$(cd "$root/.." && pwd)/shared}
work=${BENCH_DIR:-/tmp/musicark-fpbench}
rounds=${1:-3}

corpus=$(bash "$shared/scripts/fetch-music-corpus.sh" 2>/dev/null | tail -n 1)
rm -rf "$work" && mkdir -p "$work/fp"
. "$root/scripts/bench-lib.sh"
bench_build musicark
bin="$bindir/musicark"

find "$corpus" -type f \( -name '*.ogg' -o -name '*.mp3' \) -print0 | sort -z > "$work/files"
nfiles=$(tr -cd '\0' < "$work/files" | wc -c)
[ "$nfiles" -gt 0 ] || measured_nothing "no audio files under $corpus"
audio=$(xargs -0 -n1 ffprobe -v error -show_entries format=duration -of csv=p=0 < "$work/files" | awk '{s+=$1} END {printf "%.1f", s}')
xargs -0 cat < "$work/files" > /dev/null   # warm the page cache

best() { sort -n | head -n 1; }
for _ in $(seq "$rounds"); do
  /usr/bin/time -f "%e %M" -o "$work/t" sh -c "xargs -0 $bin fingerprint --json --jobs 2 < '$work/files' > '$work/ours.jsonl'"
  cat "$work/t" >> "$work/ours.times"
  /usr/bin/time -f "%e %M" -o "$work/t" sh -c "xargs -0 -n 1 -P 2 sh -c 'fpcalc -raw -length 0 -json \"\$0\" > \"$work/fp/\$(printf %s \"\$0\" | tr / _).json\" 2>/dev/null; true' < '$work/files'"
  cat "$work/t" >> "$work/fpcalc.times"
done
ours=$(awk '{print $1}' "$work/ours.times" | best)
theirs=$(awk '{print $1}' "$work/fpcalc.times" | best)
ours_rss=$(awk '{print $2}' "$work/ours.times" | sort -n | tail -n 1)

echo "Corpus: $nfiles files, $audio s of audio; best of $rounds rounds."
echo
echo "| tool (both cores) | wall s | × realtime | peak RSS MiB |"
echo "|---|---|---|---|"
awk -v s="$ours" -v a="$audio" -v r="$ours_rss" 'BEGIN { printf "| musicark fingerprint --jobs 2 | %.2f | %.0f | %.0f |\n", s, a/s, r/1024 }'
awk -v s="$theirs" -v a="$audio" 'BEGIN { printf "| fpcalc -raw -length 0, 2 processes | %.2f | %.0f | — |\n", s, a/s }'
awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "\nmusicark / fpcalc throughput: %.2f×\n", t/o }'

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def sim(a, b, max_offset=8):
    best, short = 0.0, min(len(a), len(b))
    if short == 0:
        return 0.0
    for off in range(-max_offset, max_offset + 1):
        a0, b0 = (0, off) if off >= 0 else (-off, 0)
        n = min(len(a) - a0, len(b) - b0)
        if n < (short + 1) // 2:
            continue
        err = sum(bin(a[a0 + i] ^ b[b0 + i]).count("1") for i in range(n))
        best = max(best, 1 - err / (32 * n))
    return best
sims = []
for line in open(f"{work}/ours.jsonl"):
    o = json.loads(line)
    t = json.load(open(f"{work}/fp/" + o["path"].replace("/", "_") + ".json"))
    sims.append(sim(o["fingerprint"], t["fingerprint"]))
print(f"similarity with fpcalc over {len(sims)} files: mean {sum(sims)/len(sims):.4f}, min {min(sims):.4f}")
PY
