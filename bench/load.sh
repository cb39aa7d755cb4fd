#!/bin/sh
# Tokenizer loading, lookahead against HuggingFace tokenizers, in-process:
# each side's run with the tokenizer minus the same program started
# without one (lookahead in virtual mode on empty input; node loading the
# tokenizers module), so process start-up counts on neither side.
# lookahead parses the file (--no-cache) and, second, maps the tables it
# kept in its tokenizer cache from an earlier load. Runs are interleaved,
# ROUNDS (default 15) of each; prints medians in milliseconds and ratios.
# usage: bench/load.sh [path/to/lookahead] [name ...]   names: the npm
# packages @lenml/tokenizer-NAME in the oracle's folder (default: llama2
# llama3 gpt4o; `make conformance-families` installs more).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/lookahead}
[ $# -gt 0 ] && shift
names=${*:-llama2 llama3 gpt4o}
rounds=${ROUNDS:-15}
dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}
export NODE_PATH="$dir/node_modules"
command -v node >/dev/null 2>&1 || { echo "load: node not found" >&2; exit 1; }

ms() {  # command...: wall milliseconds of one run
    t0=$(date +%s%N)
    "$@" </dev/null >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'; }

cache=$(mktemp -d)
export LOOKAHEAD_CACHE_DIR="$cache"
echo "| tokenizer | file MB | lookahead ms | from the cache ms | HuggingFace ms | lookahead / HuggingFace | from the cache / HuggingFace |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in $names; do
    tok="$dir/node_modules/@lenml/tokenizer-$name/models/tokenizer.json"
    [ -f "$tok" ] || { echo "| $name | not installed | | | |"; continue; }
    tmp=$(mktemp -d)
    "$bin" -q --tokenizer "$tok" </dev/null >/dev/null 2>&1 || true    # fills the cache
    r=0
    while [ $r -lt "$rounds" ]; do
        ms "$bin" -q --no-cache --tokenizer "$tok" >>"$tmp/ours"
        ms "$bin" -q --tokenizer "$tok" >>"$tmp/cached"
        ms "$bin" -q --mode virtual >>"$tmp/ours0"
        ms node -e "require('tokenizers').Tokenizer.fromFile(process.argv[1])" "$tok" >>"$tmp/hf"
        ms node -e "require('tokenizers')" >>"$tmp/hf0"
        r=$((r + 1))
    done
    o=$(median <"$tmp/ours"); c=$(median <"$tmp/cached"); o0=$(median <"$tmp/ours0")
    h=$(median <"$tmp/hf"); h0=$(median <"$tmp/hf0")
    awk -v n="$name" -v size="$(stat -c %s "$tok")" -v o="$o" -v c="$c" -v o0="$o0" -v h="$h" -v h0="$h0" 'BEGIN {
        printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.3f |\n", n, size / 1e6, o - o0, c - o0, h - h0,
               (o - o0) / (h - h0), (c - o0) / (h - h0) }'
    rm -rf "$tmp"
done
rm -rf "$cache"
