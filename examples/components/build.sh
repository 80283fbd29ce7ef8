#!/usr/bin/env bash
# Rebuilds the test components next to this script from the Rust packages
# in rust/ (target wasm32-wasip2, which makes components):
#   hello-cli.wasm   a wasi:cli/command component (`fn main`)
#   hello-http.wasm  a wasi:http/proxy component (the wasip2 crate's
#                    http::proxy::export!)
#   echo-http.wasm   a wasi:http/proxy component for lucet-serve's tests
# Installs rustup's wasm32-wasip2 target if it is missing. Works from any
# directory. The build goes to ${CARGO_TARGET_DIR} if set, else to a
# temporary directory that is removed afterwards.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUST_TARGET=wasm32-wasip2

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
echo "build.sh: rust/ -> hello-cli.wasm, hello-http.wasm, echo-http.wasm" >&2
cargo build --release --locked --target "$RUST_TARGET" --manifest-path "$here/rust/Cargo.toml"
cp "$CARGO_TARGET_DIR/$RUST_TARGET/release/hello-cli.wasm" "$here/hello-cli.wasm"
cp "$CARGO_TARGET_DIR/$RUST_TARGET/release/hello_http.wasm" "$here/hello-http.wasm"
cp "$CARGO_TARGET_DIR/$RUST_TARGET/release/echo_http.wasm" "$here/echo-http.wasm"
