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

# Programs that include sjlj/sjlj.h use setjmp/longjmp, which LLVM lowers
# onto WebAssembly exception handling (try_table, throw). That takes an
# LLVM of 19 or later (-wasm-use-legacy-eh=false); Debian's clang is older,
# so clang only parses them (to bitcode), and Rust's llvm-tools (llc, and
# rust-lld as wasm-ld) compile and link them with sjlj/rt.c.
llvm_bin() {
    local bin
    bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
    if [ ! -x "$bin/llc" ]; then
        echo "build.sh: installing rustup's llvm-tools" >&2
        rustup component add llvm-tools >&2
    fi
    echo "$bin"
}

sjlj_object() { # SOURCE OBJECT
    local bin="$1" src="$2" obj="$3"
    clang "${CFLAGS[@]}" -mexception-handling -emit-llvm -c -o "$obj.bc" "$src"
    "$bin/llc" -O2 -filetype=obj -mattr=+exception-handling -exception-model=wasm \
        -wasm-enable-sjlj -wasm-use-legacy-eh=false -o "$obj" "$obj.bc"
    rm -f "$obj.bc"
}

build_sjlj() { # SOURCE OUTPUT
    local bin tmp sysroot
    bin="$(llvm_bin)"
    tmp="$(mktemp -d)"
    sysroot="$(dirname "$(clang --target=wasm32-wasi -print-file-name=libc.a)")"
    sjlj_object "$bin" "$1" "$tmp/main.o"
    sjlj_object "$bin" "$here/sjlj/rt.c" "$tmp/rt.o"
    "$bin/rust-lld" -flavor wasm -o "$2" "$sysroot/crt1-command.o" "$tmp/main.o" "$tmp/rt.o" \
        -L"$sysroot" -lc "$(clang --target=wasm32-wasi --print-libgcc-file-name)"
    rm -rf "$tmp"
}

shopt -s nullglob
sources=("$here"/*.c)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "build.sh: no *.c files in $here" >&2
    exit 1
fi
for src in "${sources[@]}"; do
    name="$(basename "$src" .c)"
    echo "build.sh: $name.c -> $name.wasm" >&2
    if grep -q '#include "sjlj/sjlj.h"' "$src"; then
        build_sjlj "$src" "$here/$name.wasm"
    else
        clang "${CFLAGS[@]}" -o "$here/$name.wasm" "$src"
    fi
done
