#!/usr/bin/env bash
# Builds the libFuzzer targets for the native media code (the C functions,
# not the N-API layer) with AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs each for a bounded time. Not part of npm test.
#
#   native/fuzz/run.sh [seconds per target, default 30] [target ...]
#   targets: fuzz_g711 fuzz_polyphase (default: both)
#
# Corpora persist in native/fuzz/corpus-<target>/ (git-ignored); a crash leaves
# its input in native/fuzz/out/ and the script exits non-zero.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=(fuzz_g711 fuzz_polyphase); fi

clang_bin="${CLANG:-}"
if [ -z "$clang_bin" ]; then
  for candidate in clang clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$candidate" >/dev/null 2>&1; then clang_bin="$candidate"; break; fi
  done
fi
if [ -z "$clang_bin" ]; then
  echo "native/fuzz: clang is not installed, so libFuzzer is not available." >&2
  echo "  Debian/Ubuntu: sudo apt-get install -y clang   (then run this script again)" >&2
  echo "  or point CLANG=/path/to/clang at one with libFuzzer (-fsanitize=fuzzer)." >&2
  exit 2
fi

mkdir -p "$here/out"
status=0
for target in "${targets[@]}"; do
  case "$target" in
    fuzz_g711) sources=("$here/fuzz_g711.c" "$here/../src/g711.c") ;;
    fuzz_polyphase) sources=("$here/fuzz_polyphase.c" "$here/../src/polyphase.c") ;;
    *) echo "native/fuzz: unknown target $target (fuzz_g711, fuzz_polyphase)" >&2; exit 2 ;;
  esac
  binary="$here/out/$target"
  echo "native/fuzz: building $target with $clang_bin" >&2
  "$clang_bin" -std=c11 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -pthread -o "$binary" "${sources[@]}" -lm
  corpus="$here/corpus-$target"
  mkdir -p "$corpus"
  echo "native/fuzz: running $target for ${seconds}s (corpus $corpus)" >&2
  if ! (cd "$here/out" && "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "$corpus"); then
    echo "native/fuzz: $target FAILED: see the crash-* input in $here/out and the report above" >&2
    status=1
  else
    echo "native/fuzz: $target passed ${seconds}s with no crash" >&2
  fi
done
exit "$status"
