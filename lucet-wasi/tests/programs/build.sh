#!/usr/bin/env bash
# Rebuilds every *.c in this directory to NAME.wasm (wasm32-wasi, WASI
# preview1) next to it. Installs the Debian toolchain first if clang cannot
# build a trivial wasm32-wasi program. Works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CFLAGS=(--target=wasm32-wasi -O2 -Wall -Werror)
PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32)

toolchain_works() {
    local tmp rc=0
    tmp="$(mktemp -d)"
    printf '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n' >"$tmp/t.c"
    clang "${CFLAGS[@]}" -o "$tmp/t.wasm" "$tmp/t.c" >/dev/null 2>&1 || rc=1
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

shopt -s nullglob
sources=("$here"/*.c)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "build.sh: no *.c files in $here" >&2
    exit 1
fi
for src in "${sources[@]}"; do
    name="$(basename "$src" .c)"
    echo "build.sh: $name.c -> $name.wasm" >&2
    clang "${CFLAGS[@]}" -o "$here/$name.wasm" "$src"
done
