#!/usr/bin/env bash
# Rebuilds the Fastly Compute test apps next to this script: the Rust package
# in rust/ as rust_app.wasm and the JavaScript app in js/ as js_app.wasm (both
# wasm32-wasi, WASI preview1 core modules importing the fastly_* hostcalls).
# Installs rustup's wasm32-wasip1 target if it is missing. Works from any
# directory.
#
# The Rust build goes to ${CARGO_TARGET_DIR} if set, else to a temporary
# directory that is removed afterwards (never the workspace's target/). The
# JavaScript build runs `npm ci` in js/, leaving js/node_modules/ (ignored by
# git) in place.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUST_TARGET=wasm32-wasip1

# Rust app.
if ! rustup target list --installed | grep -qx "$RUST_TARGET"; then
    echo "build.sh: rustup target add $RUST_TARGET" >&2
    rustup target add "$RUST_TARGET"
fi
tmp=""
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    export CARGO_TARGET_DIR="$tmp/target"
fi
echo "build.sh: rust/ -> rust_app.wasm" >&2
cargo build --release --locked --target "$RUST_TARGET" --manifest-path "$here/rust/Cargo.toml"
cp "$CARGO_TARGET_DIR/$RUST_TARGET/release/fastly-app.wasm" "$here/rust_app.wasm"

# JavaScript app.
# @fastly/js-compute 3.46.0's dependencies need Node.js 20 or later (Debian
# bookworm's nodejs package is 18, so it is not installed from there).
if ! command -v npm >/dev/null 2>&1 \
    || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    echo "build.sh: building js/ needs node and npm, Node.js 20 or later" >&2
    exit 1
fi
echo "build.sh: js/ -> js_app.wasm" >&2
(
    cd "$here/js"
    npm ci --no-audit --no-fund
    npx --no-install js-compute-runtime app.js "$here/js_app.wasm"
)
