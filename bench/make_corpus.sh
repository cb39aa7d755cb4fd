#!/bin/sh
# Builds the benchmark corpora in bench/out from ../shared/data (read in place):
#   gsm8k_x40.jsonl  GSM8K train repeated 40 times (~166 MB, 299k records)
#   long.jsonl       records whose answers join 20 GSM8K answers (~6 KB each, ~123 MB)
#   gsm8k_x40.jsonl.zst
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${LOOKAHEAD_DATA:-$here/../../shared/data}
out=$here/out
mkdir -p "$out"
src=$data/gsm8k_train.jsonl
[ -f "$src" ] || { echo "make_corpus: $src not found (set LOOKAHEAD_DATA)" >&2; exit 1; }
if [ ! -s "$out/gsm8k_x40.jsonl" ]; then
    i=0; : > "$out/gsm8k_x40.jsonl.part"
    while [ $i -lt 40 ]; do cat "$src" >> "$out/gsm8k_x40.jsonl.part"; i=$((i + 1)); done
    mv "$out/gsm8k_x40.jsonl.part" "$out/gsm8k_x40.jsonl"
fi
if [ ! -s "$out/long.jsonl" ]; then
    # each record: one question, and the next 20 answers joined by blank lines
    jq -c -s --argjson k 20 '
      . as $all | ($all | length) as $n
      | range(0; 54 * ($n / $k | floor)) as $r
      | ($r % ($n / $k | floor)) as $b
      | {question: $all[$b * $k].question,
         answer: ([range(0; $k) as $j | $all[$b * $k + $j].answer] | join("\n\n"))}' "$src" \
        > "$out/long.jsonl.part"
    mv "$out/long.jsonl.part" "$out/long.jsonl"
fi
[ -s "$out/gsm8k_x40.jsonl.zst" ] || zstd -q -3 -f "$out/gsm8k_x40.jsonl" -o "$out/gsm8k_x40.jsonl.zst"
ls -l "$out"
