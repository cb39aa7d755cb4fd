#!/bin/sh
# The CLI under valgrind memcheck, for tests/cases/run.sh (make test-valgrind):
# any memory error or leak exits 99, which fails the case.
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    --show-leak-kinds=definite,indirect,possible -q "${LA_REAL_LOOKAHEAD:?set LA_REAL_LOOKAHEAD to the lookahead binary}" "$@"
