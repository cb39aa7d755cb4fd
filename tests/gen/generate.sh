#!/bin/sh
# Writes the generated files again from the reference (HuggingFace
# tokenizers through npm, the oracle tests/oracle/conformance.sh uses): the
# Unicode tables of the normalizers, pre-tokenizers and regular
# expressions (tables.js; NF_PROBE is nf_probe.c built, which tells
# utf8proc's normal forms), and the expected values of the normalizer and
# pre-tokenizer suites from their spec files (cases.js). With --check,
# writes them into a temporary folder instead and fails on any difference
# with the committed files; skipped (exit 0) when node or the oracle is
# missing.
#
# usage: tests/gen/generate.sh [--check] NF_PROBE
set -u
check=
[ "${1:-}" = --check ] && { check=1; shift; }
[ $# -eq 1 ] || { echo "usage: $0 [--check] NF_PROBE" >&2; exit 2; }
case $1 in /*) probe=$1 ;; *) probe=$(pwd)/$1 ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}
name=tables${check:+-check}

# no oracle: a check is skipped, a regeneration fails
missing() {
    if [ -n "$check" ]; then
        echo "$name: skipped ($1)"
        exit 0
    fi
    echo "$name: $1" >&2
    exit 1
}
command -v node >/dev/null 2>&1 || missing "node not found"
if [ ! -d "$dir/node_modules/tokenizers" ] && command -v npm >/dev/null 2>&1; then
    sh "$top/../shared/oracle/setup.sh" "$dir" >/dev/null 2>&1
fi
[ -d "$dir/node_modules/tokenizers" ] || missing "the oracle is not installed in $dir"
export NODE_PATH="$dir/node_modules"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lookahead-tables.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# generated file, relative to the top, and the command that writes it to $1
gen() {
    mkdir -p "$tmp/$(dirname "$1")"
    out=$tmp/$1
    file=$1
    shift
    if ! "$@" "$out"; then
        echo "$name: generating $file failed" >&2
        exit 1
    fi
    files="${files:-} $file"
}
cd "$top" || exit 1
gen src/tokenizer/tables_normalize.h node tests/gen/tables.js normalize "$probe"
gen src/tokenizer/tables_pretokenize.h node tests/gen/tables.js pretokenize
gen src/tokenizer/tables_regex.h node tests/gen/tables.js regex
for kind in norm pre; do
    gen tests/fixtures/tok/${kind}_cases.h node tests/gen/cases.js tests/gen/${kind}_cases.json
done

status=0
for f in $files; do
    if [ -n "$check" ]; then
        if ! cmp -s "$f" "$tmp/$f"; then
            echo "$name: $f differs from a fresh generation (make tables):" >&2
            diff -u "$f" "$tmp/$f" | head -40 >&2
            status=1
        fi
    elif ! cmp -s "$f" "$tmp/$f"; then
        cp "$tmp/$f" "$f" && echo "$name: wrote $f"
    fi
done
[ -n "$check" ] && [ $status -eq 0 ] && echo "$name: every generated file is up to date"
exit $status
