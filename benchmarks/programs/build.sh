#!/usr/bin/env bash
# Rebuilds the real programs of `lucet-bench execute` (beside the sightglass
# set): each crate here to wasm32-wasip1 (stripped, LTO), into wasm/, with
# its expected output recorded from a native build of the same code.
#
#   benchmarks/programs/build.sh
#
# Needs the wasm32-wasip1 target: `rustup target add wasm32-wasip1`.
set -euo pipefail
cd "$(dirname "$0")"
rustup target list --installed | grep -qx wasm32-wasip1 ||
    rustup target add wasm32-wasip1
cargo build --release --target wasm32-wasip1
cargo build --release
mkdir -p wasm
for program in markdown regex interp json; do
    cp "target/wasm32-wasip1/release/$program.wasm" "wasm/$program.wasm"
    "target/release/$program" > "wasm/$program.stdout.expected"
    : > "wasm/$program.stderr.expected"
    echo "$program: $(wc -c < "wasm/$program.wasm") bytes, $(cat "wasm/$program.stdout.expected")"
done
