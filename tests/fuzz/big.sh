#!/bin/sh
# make test-big: 1 GiB of JSONL streamed through the CLI (virtual mode)
# from a generator pipe, in flat memory: peak RSS (GNU time's %M) must stay
# under LIMIT_KB (default 32 MB: the heap is on huge pages where the
# system gives them, src/cli/heap.c, and a huge page touched counts whole,
# 2 MB); every record is counted in and out.
# Memory grows with --threads (each worker has batches in flight, about
# 3 MB a thread), so the run uses THREADS (default 2), not the core count.
# Usage: tests/fuzz/big.sh path/to/lookahead
set -eu
bin=$1
limit=${LIMIT_KB:-32768}
threads=${THREADS:-2}
command -v /usr/bin/time >/dev/null || { echo "test-big: /usr/bin/time (GNU time) is not installed"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rec='{"input":"What is 6 * 7?","output":"6 * 7 = 42, so the answer is 42.","meta":{"id":12345,"tags":["math","easy"]}}'
len=$(( ${#rec} + 1 ))
n=$(( (1 << 30) / len + 1 ))
status=0
yes "$rec" | head -n "$n" | /usr/bin/time -f %M -o "$work/rss" "$bin" -q --mode virtual --threads "$threads" --stats "$work/stats.json" \
    | wc -l > "$work/lines" || status=$?
rss=$(tail -n 1 "$work/rss")
out=$(cat "$work/lines")
get() { tr -d ' ,' < "$work/stats.json" | awk -F: -v k="\"$1\"" '$1 == k { print $2 }'; }
echo "test-big: $n records ($(( n * len )) bytes) in, $out out, peak RSS $rss KB (limit $limit KB, $threads threads)"
fail=0
[ "$status" -eq 0 ] || { echo "FAIL: exit $status"; fail=1; }
[ "$(get records_in)" = "$n" ] || { echo "FAIL: records_in $(get records_in), want $n"; fail=1; }
[ "$(get records_out)" = "$n" ] && [ "$out" = "$n" ] || { echo "FAIL: records_out $(get records_out), $out lines"; fail=1; }
[ "$(get bytes_in)" = "$(( n * len ))" ] || { echo "FAIL: bytes_in $(get bytes_in)"; fail=1; }
[ "$rss" -lt "$limit" ] || { echo "FAIL: peak RSS $rss KB >= $limit KB"; fail=1; }
exit $fail
