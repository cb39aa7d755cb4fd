#!/bin/sh
# CI hook for sanitizers and fuzzing (called from .ci/run): the library, CLI
# and every Check suite under ASan+UBSan running `make unit cases`, then
# each fuzz target for CI_FUZZ_SECONDS (default 20) when clang's libFuzzer
# runtime is available, then the 1 GiB flat-memory run.
set -eu
cd "$(dirname "$0")/../.."
# clang and its sanitizer/fuzzer runtime come from Debian when missing
if ! command -v clang >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang libclang-rt-dev >/dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang >/dev/null 2>&1 || true
fi
if command -v clang >/dev/null 2>&1; then
    make --no-print-directory test-sanitize
else
    echo "ci: clang not available: sanitizers with gcc"
    make --no-print-directory test-sanitize SAN_CC=gcc
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$probe/t.c"
if command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 &&
    "${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined "$probe/t.c" -o "$probe/t" >/dev/null 2>&1; then
    make --no-print-directory fuzz FUZZ_SECONDS="${CI_FUZZ_SECONDS:-20}"
else
    echo "ci: skipping fuzzing: ${FUZZ_CC:-clang} with libFuzzer (-fsanitize=fuzzer) is not available"
fi
make --no-print-directory test-big
