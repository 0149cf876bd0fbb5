#!/usr/bin/env bash
# A real S3-compatible object store on loopback for the tests and
# benchmarks: Garage (https://garagehq.deuxfleurs.fr), built from
# crates.io, one node, one bucket, one key.
#
#   scripts/garage.sh build          # cargo install garage (about 10 min on 2 cores, once)
#   scripts/garage.sh start DIR      # start it with its data in DIR; prints the
#                                    # environment the tests read (eval it)
#   scripts/garage.sh stop DIR
#
# The key is a fixed test key: this store listens on 127.0.0.1 only.
set -euo pipefail
version=2.5.0
prefix=${GARAGE_ROOT:-$HOME/.cache/musicark-garage/$version}
garage=$prefix/bin/garage
key_id=GK0123456789abcdef01234567
secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
s3_port=${GARAGE_S3_PORT:-3900}
rpc_port=${GARAGE_RPC_PORT:-3901}

build() {
    [ -x "$garage" ] && return 0
    # Only the S3 API and the SQLite metadata engine; no LTO and little
    # optimisation: a test server, built in minutes rather than a quarter hour.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TARGET_DIR=${GARAGE_TARGET:-/tmp/musicark-garage-target} \
        cargo install garage --version "$version" --locked --quiet \
        --no-default-features --features bundled-libs,sqlite --root "$prefix"
}

start() {
    local dir=$1
    build
    mkdir -p "$dir/meta" "$dir/data"
    cat > "$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
# Audio is compressed already: zstd over it only costs CPU.
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
EOF
    local g="$garage -c $dir/garage.toml"
    $g server > "$dir/server.log" 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 50); do
        $g status > /dev/null 2>&1 && break
        sleep 0.2
    done
    local id
    id=$($g node id -q 2>/dev/null | cut -d@ -f1)
    $g layout assign -z dc1 -c 10G "$id" > /dev/null
    $g layout apply --version 1 > /dev/null
    $g key import --yes -n musicark "$key_id" "$secret" > /dev/null
    $g bucket create musicark > /dev/null
    $g bucket allow --read --write --owner musicark --key musicark > /dev/null
    cat <<EOF
export MUSICARK_TEST_S3=http://127.0.0.1:$s3_port
export MUSICARK_TEST_S3_BUCKET=musicark
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=garage
EOF
}

stop() {
    local dir=$1
    [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -rf "$dir"
}

case ${1:-} in
    build) build ;;
    start) start "${2:?usage: garage.sh start DIR}" ;;
    stop) stop "${2:?usage: garage.sh stop DIR}" ;;
    *) echo "usage: garage.sh build | start DIR | stop DIR" >&2; exit 2 ;;
esac
