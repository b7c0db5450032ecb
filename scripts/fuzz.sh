#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses in Fuzz/Harnesses (one per decoder) outside the normal SwiftPM build.
#
#   scripts/fuzz.sh [target ...] [--runs N | --seconds S] [--debug]
#
# Targets: engineio socketio massive-frames occ recording config rest (default: all).
# Each harness is compiled with `swiftc -sanitize=fuzzer,address -parse-as-library`, together with the modules it
# needs, which are compiled here from the project's sources (and swift-log / Yams from the SwiftPM checkouts)
# with the same instrumentation, so libFuzzer gets coverage from the decoders themselves. Builds go to
# Fuzz/.build; the committed seed corpus in Fuzz/corpus/<target> is copied to a scratch corpus so runs never
# modify it. A crash or a hang (over 10 s per input) fails the script and leaves the input in
# Fuzz/.build/<opt>/crashes. --debug compiles without optimization (faster to build, slower to run: for short
# CI runs). Delete Fuzz/.build to force a rebuild after changing compiler flags.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all_targets=(engineio socketio massive-frames occ recording config rest)
optimize=(-O)
targets=()
runs=""
seconds=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --debug) optimize=(-Onone); shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
if [ -z "$runs" ] && [ -z "$seconds" ]; then runs=100000; fi

out="$root/Fuzz/.build/${optimize[0]#-}"
mods="$out/modules"
mkdir -p "$mods" "$out/bin" "$out/crashes"

# SwiftPM checkouts for swift-log and Yams (resolved by any `swift build`).
checkouts="$root/.build/checkouts"
if [ ! -d "$checkouts/swift-log" ] || [ ! -d "$checkouts/Yams" ]; then
    swift package resolve >/dev/null
fi

sanitize=(-sanitize=fuzzer,address)
common=(-swift-version 6 -package-name markethub -parse-as-library "${optimize[@]}" "${sanitize[@]}" -I "$mods" -L "$mods"
    -Xcc -fmodule-map-file="$mods/PluginAPI.modulemap" -Xcc -fmodule-map-file="$root/Sources/CZlib/module.modulemap"
    -I "$checkouts/Yams/Sources/CYaml/include"
    -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility)

modulemap="module PluginAPI {
    header \"$root/Sources/PluginAPI/include/markethub_plugin.h\"
    export *
}"
if [ "$(cat "$mods/PluginAPI.modulemap" 2>/dev/null)" != "$modulemap" ]; then
    printf '%s\n' "$modulemap" >"$mods/PluginAPI.modulemap"
fi

# Compiles one Swift module into a static library (skipped when it is newer than all its sources).
module() {
    local name="$1"; shift
    local sources=()
    local extra=()
    for arg in "$@"; do
        if [[ "$arg" == *.swift ]]; then sources+=("$arg"); else extra+=("$arg"); fi
    done
    local lib="$mods/lib$name.a"
    if [ -f "$lib" ] && [ -z "$(find "${sources[@]}" -newer "$lib" 2>/dev/null | head -1)" ]; then return; fi
    echo "-- module $name (${#sources[@]} files)"
    swiftc "${common[@]}" "${extra[@]}" -module-name "$name" -emit-library -static -emit-module \
        -emit-module-path "$mods/$name.swiftmodule" -o "$lib" "${sources[@]}" 2>&1 | grep -v "^$" | grep -E "error|warning: .*$root" || true
    [ -f "$lib" ] || { echo "module $name failed to build" >&2; exit 1; }
}

build_logging() { module Logging $(find "$checkouts/swift-log/Sources/Logging" -name "*.swift") -suppress-warnings -package-name swift_log -swift-version 5; }
build_pluginkit() { build_logging; module PluginKit "$root"/Sources/PluginKit/*.swift; }
build_calendar() { module MarketCalendar "$root"/Sources/MarketCalendar/*.swift; }
build_wire() { build_pluginkit; build_calendar; module MassiveWire "$root"/Sources/MassiveWire/*.swift; }
build_sio() { module SocketIOProtocol "$root"/Plugins/SocketIOTransport/Protocol/*.swift; }
build_recording() { build_wire; module Recording "$root"/Plugins/RecordedProvider/Recording/*.swift; }
build_yams() {
    local lib="$mods/libCYaml.a"
    if [ ! -f "$lib" ]; then
        echo "-- module CYaml (C)"
        local objs=()
        for c in "$checkouts"/Yams/Sources/CYaml/src/*.c; do
            clang -c -O1 -fsanitize=fuzzer-no-link,address -I"$checkouts/Yams/Sources/CYaml/include" \
                -DYAML_DECLARE_STATIC "$c" -o "$mods/cyaml-$(basename "$c" .c).o"
            objs+=("$mods/cyaml-$(basename "$c" .c).o")
        done
        ar rcs "$lib" "${objs[@]}"
    fi
    module Yams $(find "$checkouts/Yams/Sources/Yams" -name "*.swift") -suppress-warnings -package-name Yams -swift-version 5 -D SWIFT_PACKAGE
}
# The host without its runtime wiring (HostRuntime, HostRoutes, PluginSetService, HealthReport and the
# cluster node with its Redis messages, which need SwiftNIO) and with a stub ServiceLifecycle (Fuzz/Stubs): the
# harnesses call only its configuration loader and REST parsers. The loader checks `cluster.redisUrl` with
# RedisClient's endpoint parser, which is plain Swift, so that part of RedisClient is built on its own.
build_host() {
    build_wire; build_yams
    module OptionMath "$root"/Sources/OptionMath/*.swift
    module ServiceLifecycle "$root"/Fuzz/Stubs/ServiceLifecycleStub.swift
    module RedisClient "$root"/Sources/RedisClient/RedisEndpoint.swift "$root"/Sources/RedisClient/RedisError.swift
    local files=()
    while IFS= read -r f; do files+=("$f"); done < <(
        find "$root/Sources/Host" -name '*.swift' | sort |
            grep -v -E '/(HostRuntime|HostRoutes|PluginSetService|HealthReport|ClusterNode|ClusterMessage)\.swift$')
    module Host "${files[@]}" -enable-testing
}

# Builds one harness: target name, harness file, module builder, libraries to link.
harness() {
    local target="$1" file="$2" builder="$3"; shift 3
    $builder
    local binary="$out/bin/fuzz-$target"
    if [ -f "$binary" ] && [ -z "$(find "$root/Fuzz/Harnesses/$file" "$mods" \( -name '*.a' -o -name '*.swift' \) -newer "$binary" | head -1)" ]
    then return; fi
    echo "-- harness $target"
    local libs=()
    for lib in "$@"; do libs+=("-l$lib"); done
    swiftc "${common[@]}" -module-name "Fuzz_${target//-/_}" "$root/Fuzz/Harnesses/$file" "${libs[@]}" -lz \
        -o "$binary" 2>&1 | grep -E "error|warning: .*$root" || true
    [ -x "$binary" ] || { echo "harness $target failed to build" >&2; exit 1; }
}

build_target() {
    case "$1" in
        engineio) harness engineio EngineIOFuzz.swift build_sio SocketIOProtocol ;;
        socketio) harness socketio SocketIOFuzz.swift build_sio SocketIOProtocol ;;
        massive-frames) harness massive-frames MassiveFramesFuzz.swift build_wire MassiveWire MarketCalendar PluginKit Logging ;;
        occ) harness occ OCCFuzz.swift build_wire MassiveWire MarketCalendar PluginKit Logging ;;
        recording) harness recording RecordingFuzz.swift build_recording Recording MassiveWire MarketCalendar PluginKit Logging ;;
        config) harness config ConfigFuzz.swift build_host Host RedisClient ServiceLifecycle OptionMath MassiveWire MarketCalendar PluginKit Logging Yams CYaml ;;
        rest) harness rest RESTFuzz.swift build_host Host RedisClient ServiceLifecycle OptionMath MassiveWire MarketCalendar PluginKit Logging Yams CYaml ;;
        *) echo "unknown fuzz target '$1' (targets: ${all_targets[*]})" >&2; exit 2 ;;
    esac
}

status=0
summary=()
for target in "${targets[@]}"; do
    build_target "$target"
    corpus="$out/corpus/$target"
    mkdir -p "$corpus" "$out/crashes/$target"
    [ -d "$root/Fuzz/corpus/$target" ] && cp -n "$root/Fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null || true
    limit=()
    [ -n "$runs" ] && limit+=(-runs="$runs")
    [ -n "$seconds" ] && limit+=(-max_total_time="$seconds")
    dict=()
    [ -f "$root/Fuzz/dict/$target.dict" ] && dict=(-dict="$root/Fuzz/dict/$target.dict")
    log="$out/fuzz-$target.log"
    echo "== fuzz $target ${limit[*]}"
    if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$out/bin/fuzz-$target" "${limit[@]}" "${dict[@]}" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/crashes/$target/" "$corpus" >"$log" 2>&1; then
        executions=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        summary+=("$target: ${executions:-?} executions, no crashes")
    else
        status=1
        summary+=("$target: FAILED (see $log; inputs in $out/crashes/$target)")
        grep -E "ERROR|Fatal error|Precondition failed|Test unit written|SUMMARY" "$log" | head -20 >&2
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
