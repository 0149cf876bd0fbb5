# Sourced by the benchmark scripts (after setting `root`): which build to
# measure, and failing loudly when a run measured nothing.
#
#   MUSICARK_BENCH_PROFILE=dev   measure the debug build instead of the
#                                release build: CI's smoke run (scripts/
#                                bench-smoke.sh) checks that each script
#                                still works at a small size; its figures
#                                mean nothing.

# Build the packages named and set `bindir` to where their binaries are.
bench_build() {
    local args=()
    for p in "$@"; do args+=(-p "$p"); done
    if [ "${MUSICARK_BENCH_PROFILE:-release}" = dev ]; then
        (cd "$root" && cargo build -q "${args[@]}")
        bindir="$root/target/debug"
    else
        (cd "$root" && cargo build --release -q "${args[@]}")
        bindir="$root/target/release"
    fi
}

# A benchmark that measured nothing says so and fails: a figure divided
# by zero, or a rate of nothing, is not a result.
measured_nothing() {
    echo "$(basename "$0"): measured nothing: $*" >&2
    exit 1
}
