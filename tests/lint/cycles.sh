#!/bin/sh
# Lists which source file uses which (a function or object defined in one
# file and referenced from another, read from the object files' symbol
# tables with nm) and fails when the uses go round in a circle: files
# depend on each other one way only, from the CLI down to the buffers.
# Usage: tests/lint/cycles.sh BUILD_DIR [--list]
set -eu
build=$1
list=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
objs=$(cd "$build" && find src -name '*.o' | sort)
[ -n "$objs" ] || { echo "cycles: no object files under $build/src" >&2; exit 2; }
# symbol -> the source file that defines it; source file -> symbols it uses
for o in $objs; do
    src=${o%.o}.c
    nm "$build/$o" | awk -v f="$src" '$2 ~ /^[TDBRC]$/ { print $3, f }' >> "$tmp/defs"
    nm -u "$build/$o" | awk -v f="$src" '{ print $2, f }' >> "$tmp/uses"
done
# edges "user definer", once each, between different files
awk 'NR == FNR { def[$1] = $2; next } ($1 in def) && def[$1] != $2 { print $2, def[$1] }' \
    "$tmp/defs" "$tmp/uses" | sort -u > "$tmp/edges"
[ "$list" = "--list" ] && cat "$tmp/edges"
# tsort names the files of a circle on stderr and fails
if ! tsort "$tmp/edges" > /dev/null 2> "$tmp/loops"; then
    echo "cycles: source files that use each other (each circle on a line):" >&2
    awk '/input contains a loop/ { if (c) print "  " c; c = ""; next }
         { sub(/^tsort: /, ""); c = c ? c " -> " $0 : $0 } END { if (c) print "  " c }' "$tmp/loops" >&2
    echo "cycles: move what both need into a file of its own, below both (--list shows every use)" >&2
    exit 1
fi
echo "cycles: $(wc -l < "$tmp/edges") uses between $(echo "$objs" | wc -l) source files, no circle"
