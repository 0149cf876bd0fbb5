#!/usr/bin/env bash
# Federation at scale (issue 19): L synthetic published lists of T
# torrents each (default 100 × 10 000), each with a metadata release
# saying which R recordings (default 5) of an N-recording catalogue
# (default 1 000 000) each torrent holds. One archive follows all of them
# from local files and runs `follow sync` (every signature, every
# .torrent, every where-index), a second sync (nothing changed), the
# federated coverage report and a federated seeding plan: wall time and
# peak RSS of each. Target: each under 60 s and 1 GiB.
#
# The peer, in the same run: reading and SHA-1-hashing every .torrent
# file (`sha1sum` over 2 processes) and `minisign -V` of every list —
# the I/O and hashing any verifier of these lists must do.
#
#   scripts/bench-follow.sh [LISTS] [TORRENTS] [RECORDINGS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lists=${1:-100}
torrents=${2:-10000}
recordings=${3:-1000000}
work=${BENCH_DIR:-/tmp/musicark-fbench}/$lists-$torrents-$recordings
. "$root/scripts/bench-lib.sh"
bench_build musicark xtask
bin="$bindir/musicark"
mkdir -p "$work"
[ -f "$work/mbdump/recording" ] || "$bindir/xtask" gen-catalog --recordings "$recordings" --out "$work" > /dev/null
[ -f "$work/lists/key.pub" ] || "$bindir/xtask" gen-lists --lists "$lists" --torrents "$torrents" \
    --mbids "$work/mbdump/recording" --out "$work/lists"
rm -rf "$work/archive"
"$bin" --archive "$work/archive" init -q > /dev/null
"$bin" --archive "$work/archive" catalog import musicbrainz "$work/mbdump/recording" --quiet > /dev/null
"$bin" --archive "$work/archive" catalog import listenbrainz "$work/listenbrainz.csv" --quiet > /dev/null
for d in "$work"/lists/[0-9]*; do
    "$bin" --archive "$work/archive" follow add "$d/torrents.json" --key "$work/lists/key.pub" \
        --name "l$(basename "$d")" > /dev/null
done

t() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/time"; }
read -r s1 m1 < <(t "$bin" --archive "$work/archive" follow sync --quiet --json)
synced=$(python3 -c "import json,sys; o=json.load(open('$work/out')); print(sum(x['status']=='synced' for x in o), sum(x['torrents'] for x in o), sum(x['holdings'] for x in o))")
read -r n_synced n_torrents n_holdings <<< "$synced"
[ "$n_synced" -eq "$lists" ] || measured_nothing "$n_synced of $lists lists synced (see $work/out)"
read -r s2 m2 < <(t "$bin" --archive "$work/archive" follow sync --quiet --json)
read -r s3 m3 < <(t "$bin" --archive "$work/archive" report coverage --federated --json)
union=$(python3 -c "import json; c=json.load(open('$work/out')); print(c['torrents_union'], c['anyone']['recordings'])")
read -r s4 m4 < <(t "$bin" --archive "$work/archive" seedplan --federated --budget 100TB --donor bench --json)
planned=$(python3 -c "import json; print(len(json.load(open('$work/out'))['torrents']))")
read -r s5 m5 < <(t "$bin" --archive "$work/archive" wanted list --limit 100 --json)

# The peer: hash every .torrent, verify every list's signature.
start=$(date +%s.%N)
find "$work/lists" -name '*.torrent' -print0 | xargs -0 -P 2 -n 2000 sha1sum > /dev/null
for d in "$work"/lists/[0-9]*; do minisign -Vq -p "$work/lists/key.pub" -m "$d/torrents.json"; done
peer=$(echo "$(date +%s.%N) - $start" | bc -l)

echo "$lists lists × $torrents torrents ($n_torrents torrents, $n_holdings holdings synced; union: $union; $planned planned)"
echo
echo "| step | wall s | peak RSS MiB |"
echo "|---|---|---|"
printf "| follow sync, first (every signature, .torrent and where-index) | %.1f | %.0f |\n" "$s1" "$(echo "$m1/1024" | bc -l)"
printf "| follow sync, nothing changed | %.1f | %.0f |\n" "$s2" "$(echo "$m2/1024" | bc -l)"
printf "| report coverage --federated | %.1f | %.0f |\n" "$s3" "$(echo "$m3/1024" | bc -l)"
printf "| seedplan --federated (100 TB) | %.1f | %.0f |\n" "$s4" "$(echo "$m4/1024" | bc -l)"
printf "| wanted list (top 100) | %.1f | %.0f |\n" "$s5" "$(echo "$m5/1024" | bc -l)"
printf "| peer: sha1sum of every .torrent + minisign -V of every list | %.1f | |\n" "$peer"
printf "\nfirst sync ÷ peer: %.2f×\n" "$(echo "$s1 / $peer" | bc -l)"
