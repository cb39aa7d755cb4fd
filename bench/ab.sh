#!/bin/sh
# Two builds side by side: virtual and real mode (TOK: Llama-2) of each on one
# corpus, interleaved ROUNDS times, so that the machine's swings hit all
# four alike. Each build gets a tokenizer cache of its own: an entry is
# stamped with the program that wrote it, so two builds sharing one cache
# would rewrite it in turn and parse the tokenizer file on every run,
# which is not what either costs. Prints, per build and mode, the
# minimum, first quartile and median of wall milliseconds and of CPU
# milliseconds (user + system, all threads), and each build's real /
# virtual of the medians. bench/runner.c times each run from fork to
# exit, with no shell or time(1) start-up in the figures.
# usage: bench/ab.sh path/to/lookahead-A path/to/lookahead-B [corpus.jsonl]
# env: ROUNDS (15), THREADS (the program's default when unset), FIELDS (the
# field options; empty: --format auto), TOK (the tokenizer family, the NAME
# of @lenml/tokenizer-NAME; llama2), NO_CACHE=1 (real mode parses
# tokenizer.json every run)
set -eu
[ $# -ge 2 ] || { echo "usage: $0 lookahead-A lookahead-B [corpus.jsonl]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-15}
if [ $# -ge 3 ]; then
    corpus=$3
else
    sh "$here/make_corpus.sh" >/dev/null
    corpus=$here/out/gsm8k_x40.jsonl
fi
oracle_dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}
tok=$oracle_dir/node_modules/@lenml/tokenizer-${TOK:-llama2}/models/tokenizer.json
[ -f "$tok" ] || { echo "ab: $tok not found (run ../shared/oracle/setup.sh)" >&2; exit 1; }
F=${FIELDS-"--input-field question --output-field answer"}   # FIELDS="": the records are read by --format auto
[ -n "${THREADS:-}" ] && F="$F --threads $THREADS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
${CC:-cc} -O2 -o "$work/runner" "$here/runner.c"

# each build's cache, filled before timing
for side in A B; do
    if [ $side = A ]; then bin=$1; else bin=$2; fi
    mkdir "$work/cache$side"
    LOOKAHEAD_CACHE_DIR=$work/cache$side "$bin" -q --tokenizer "$tok" $F </dev/null >/dev/null
done

r=1
while [ "$r" -le "$rounds" ]; do
    for side in A B; do
        if [ $side = A ]; then bin=$1; else bin=$2; fi
        for mode in virtual real; do
            if [ $mode = virtual ]; then args="--mode virtual"; else args="--tokenizer $tok"; fi
            [ $mode = real ] && [ "${NO_CACHE:-0}" = 1 ] && args="--no-cache $args"
            rm -f "$work/out" "$work/t"
            sync
            LOOKAHEAD_CACHE_DIR=$work/cache$side "$work/runner" "$work/out" "$work/t" \
                "$bin" -q $args $F "$corpus"
            echo "$side $mode $(cat "$work/t")" >> "$work/res"   # wall, RSS, user, sys
        done
    done
    r=$((r + 1))
done

echo "A: $1"
echo "B: $2"
echo "corpus: $corpus, $rounds rounds"
echo
echo "| build | mode | wall min ms | wall q1 ms | wall median ms | CPU min ms | CPU q1 ms | CPU median ms |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
awk '
  { k = $1 " " $2; n[k]++; w[k, n[k]] = $3; c[k, n[k]] = $5 + $6; if (!(k in seen)) { seen[k] = 1; order[++o] = k } }
  function q(arr, k, f,   i, j, x, m, v) { m = n[k]; for (i = 1; i <= m; i++) v[i] = arr[k, i];
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      return v[int(f * (m - 1)) + 1] }
  END {
    for (i = 1; i <= o; i++) { k = order[i]; split(k, p, " ")
      printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", p[1], p[2], 1000 * q(w, k, 0), 1000 * q(w, k, 0.25),
             1000 * q(w, k, 0.5), 1000 * q(c, k, 0), 1000 * q(c, k, 0.25), 1000 * q(c, k, 0.5) }
    printf "\n"
    for (s = 0; s < 2; s++) { b = s ? "B" : "A"
      printf "%s: real / virtual %.2f in time, %.2f in CPU (medians)\n", b,
             q(w, b " real", 0.5) / q(w, b " virtual", 0.5), q(c, b " real", 0.5) / q(c, b " virtual", 0.5) }
  }' "$work/res"
