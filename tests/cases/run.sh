#!/bin/sh
# Golden CLI cases: each folder tests/cases/NAME holds
#   args      the command line (shell words), or
#   cmd       a shell command using $LOOKAHEAD (for pipes, /dev/full, signals)
#   input     standard input (optional; /dev/null otherwise)
#   expected  expected standard output, byte for byte (optional: empty)
#   exit      expected exit code (optional: 0)
#   stderr    an extended regular expression stderr must match; an empty
#             file: stderr must be empty (optional: not checked)
#   expect/   files the run must leave in its folder, byte for byte
#   absent    names (one a line) of files the run must not leave
# and any other files the command reads. A case runs in a copy of its
# folder; $DATA points at the project's data/. Adding a case adds no code.
# Usage: tests/cases/run.sh path/to/lookahead [NAME...]
set -u
bin=$1; shift
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
export LOOKAHEAD="$bin" DATA="$top/data"
# a tokenizer cache of the run's own: the first case with a tokenizer
# fills it, later ones load from it (and the user's cache is left alone)
LOOKAHEAD_CACHE_DIR=$(mktemp -d); export LOOKAHEAD_CACHE_DIR
trap 'rm -rf "$LOOKAHEAD_CACHE_DIR"' EXIT
pass=0; fail=0; failed=""
if [ $# -gt 0 ]; then list="$*"; else list=$(ls "$top/tests/cases"); fi
for name in $list; do
    src="$top/tests/cases/$name"
    [ -d "$src" ] || continue
    work=$(mktemp -d)
    cp -R "$src/." "$work/"
    in=/dev/null; [ -f "$work/input" ] && in="$work/input"
    if [ -f "$work/cmd" ]; then
        (cd "$work" && sh ./cmd <"$in" >"$work/.stdout" 2>"$work/.stderr"); code=$?
    else
        (cd "$work" && eval "set -- $(cat args)" && "$bin" "$@" <"$in" >"$work/.stdout" 2>"$work/.stderr"); code=$?
    fi
    want=0; [ -f "$work/exit" ] && want=$(cat "$work/exit")
    why=""
    [ "$code" = "$want" ] || why="exit $code, expected $want"
    if [ -z "$why" ]; then
        if [ -f "$work/expected" ]; then cmp -s "$work/expected" "$work/.stdout" || why="stdout differs"
        else [ -s "$work/.stdout" ] && why="unexpected stdout"; fi
    fi
    if [ -z "$why" ] && [ -f "$work/stderr" ] && [ ! -s "$work/stderr" ]; then
        [ -s "$work/.stderr" ] && why="stderr should be empty"
    elif [ -z "$why" ] && [ -f "$work/stderr" ]; then
        grep -Eq -- "$(cat "$work/stderr")" "$work/.stderr" || why="stderr does not match /$(cat "$work/stderr")/"
    fi
    if [ -z "$why" ] && [ -d "$work/expect" ]; then
        for f in $(cd "$work/expect" && ls -A); do
            cmp -s "$work/expect/$f" "$work/$f" || { why="file $f differs or is missing"; break; }
        done
    fi
    if [ -z "$why" ] && [ -f "$work/absent" ]; then
        while IFS= read -r f; do
            [ -n "$f" ] || continue
            # shellcheck disable=SC2086
            if ls -d "$work"/$f >/dev/null 2>&1; then why="$f should not exist"; break; fi
        done <"$work/absent"
    fi
    if [ -z "$why" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); failed="$failed $name"
        echo "FAIL $name: $why"
        if [ -n "${VERBOSE:-}" ]; then echo "--- stderr"; cat "$work/.stderr"; echo "--- stdout"; head -c 2000 "$work/.stdout"; fi
    fi
    rm -rf "$work"
done
echo "cases: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
