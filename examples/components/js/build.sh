#!/usr/bin/env bash
# Rebuilds ../hello-js.wasm, a wasi:http/proxy component, from hello.js with
# componentize-js (npm, pinned below). The npm packages go to
# ${LUCET_NPM_CACHE:-~/.cache/lucet-components/npm}, outside the repository.
#
# componentize-js 0.22's engine is built against WASI 0.2.10, so the world
# must use WIT of exactly that version. jco (a dependency of
# componentize-js) carries WASI's WIT: its 0.2.10 copies of wasi:io,
# wasi:clocks and wasi:sockets, and 0.2.12 copies of the rest, whose
# interfaces are the same in 0.2.10; those are renamed to 0.2.10.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPONENTIZE_JS_VERSION=0.22.0
cache="${LUCET_NPM_CACHE:-$HOME/.cache/lucet-components/npm}"

mkdir -p "$cache"
if [ ! -x "$cache/node_modules/.bin/componentize-js" ] ||
    ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" \
        "$cache/node_modules/@bytecodealliance/componentize-js/package.json"; then
    echo "build.sh: npm install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2
    (cd "$cache" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund \
            "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2)
fi

wit_src="$cache/node_modules/@bytecodealliance/jco/lib/wit/builtin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wit/deps"
cp "$here/world.wit" "$work/wit/"
for package in "$wit_src"/0.2.12/wasi-*/; do
    name="$(basename "$package")"
    mkdir -p "$work/wit/deps/$name"
    if [ -f "$wit_src/0.2.10/$name/package.wit" ]; then
        cp "$wit_src/0.2.10/$name/package.wit" "$work/wit/deps/$name/"
    else
        sed 's/@0\.2\.12/@0.2.10/g' "$package/package.wit" > "$work/wit/deps/$name/package.wit"
    fi
done
# wasi:cli's worlds include worlds the 0.2.10 packages above do not have;
# the proxy world needs none of them.
python3 - "$work/wit/deps/wasi-cli/package.wit" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r"world (command|imports) \{.*?\n\}\n", "", text, flags=re.S)
open(path, "w").write(text)
PY

echo "build.sh: hello.js -> hello-js.wasm" >&2
"$cache/node_modules/.bin/componentize-js" --wit "$work/wit" -n hello \
    "$here/hello.js" -o "$here/../hello-js.wasm"
