#!/usr/bin/env bash
# A newcomer's first build: what the README's first command
# (`cargo run --release -- demo`) compiles, from nothing, with the crates
# already downloaded (`cargo fetch`; the download depends on the network,
# not on us). Builds a clean checkout of HEAD (or of REV) in a fresh
# target directory with `--timings`, and prints the wall time and the
# units on the critical path's neighbourhood (the longest ones).
#
#   scripts/bench-build.sh [REV]
#
# Let nothing else compile meanwhile: it measures a machine's two cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rev="${1:-HEAD}"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach -q "$work/src" "$rev"
(cd "$work/src" && cargo fetch -q)
start=$(date +%s.%N)
(cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo build --release -q -p musicark --bin musicark --timings)
end=$(date +%s.%N)
report="$(ls "$work"/target/cargo-timings/cargo-timing-2*.html | head -1)"
[ -f "$report" ] || { echo "bench-build: no timings report" >&2; exit 1; }
python3 - "$report" "$(echo "$end - $start" | bc)" "$(git -C "$root" rev-parse --short "$rev")" <<'EOF'
import json, re, sys
report, wall, rev = sys.argv[1], float(sys.argv[2]), sys.argv[3]
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", open(report).read(), re.S).group(1))
if not units:
    sys.exit("bench-build: measured nothing")
print(f"cold release build of {rev}: {wall:.0f} s wall, {len(units)} units, "
      f"{sum(u['duration'] for u in units):.0f} s of unit time")
print("| unit | s | started at s |")
print("|---|---|---|")
for u in sorted(units, key=lambda u: -u["duration"])[:12]:
    kind = f" ({u['target'].strip()})" if u.get("target", "").strip() else ""
    print(f"| {u['name']}{kind} | {u['duration']:.1f} | {u['start']:.0f} |")
EOF
