#!/usr/bin/env bash
# Rebuilds every WAGI test handler to NAME.wasm (wasm32-wasi, WASI preview1)
# next to its source: each *.c here, and the Rust package in rust/ as
# rust_echo.wasm. Installs the Debian C toolchain first if clang cannot build
# a trivial wasm32-wasi program, and rustup's wasm32-wasip1 target if it is
# missing. Works from any directory.
#
# The Rust build goes to ${CARGO_TARGET_DIR} if set, else to a temporary
# directory that is removed afterwards (never the workspace's target/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CFLAGS=(--target=wasm32-wasi -O2 -Wall -Werror)
LDFLAGS=(-Wl,--strip-debug)
PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32)
RUST_TARGET=wasm32-wasip1

toolchain_works() {
    local tmp rc=0
    tmp="$(mktemp -d)"
    printf '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n' >"$tmp/t.c"
    clang "${CFLAGS[@]}" "${LDFLAGS[@]}" -o "$tmp/t.wasm" "$tmp/t.c" >/dev/null 2>&1 || rc=1
    rm -rf "$tmp"
    return "$rc"
}

if ! command -v clang >/dev/null 2>&1 || ! toolchain_works; then
    echo "build.sh: installing ${PACKAGES[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${PACKAGES[@]}"
    toolchain_works || { echo "build.sh: clang --target=wasm32-wasi still cannot build" >&2; exit 1; }
fi

# C handlers.
shopt -s nullglob
sources=("$here"/*.c)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "build.sh: no *.c files in $here" >&2
    exit 1
fi
for src in "${sources[@]}"; do
    name="$(basename "$src" .c)"
    echo "build.sh: $name.c -> $name.wasm" >&2
    clang "${CFLAGS[@]}" "${LDFLAGS[@]}" -o "$here/$name.wasm" "$src"
done

# Rust handler.
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
echo "build.sh: rust/ -> rust_echo.wasm" >&2
cargo build --release --locked --target "$RUST_TARGET" --manifest-path "$here/rust/Cargo.toml"
cp "$CARGO_TARGET_DIR/$RUST_TARGET/release/echo-rs.wasm" "$here/rust_echo.wasm"
