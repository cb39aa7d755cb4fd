# tests/fuzz/fuzz.mk - fuzzing, sanitizer, valgrind and big-input targets
# (included by the Makefile).
#
#   make fuzz            build the libFuzzer targets with clang and run each
#                        for FUZZ_SECONDS (default 60); crashes are saved as
#                        build-fuzz/crash-TARGET-*; new inputs go to
#                        build-fuzz/corpus/TARGET (the seeds in
#                        tests/fuzz/corpus/TARGET are only read)
#   make fuzz-build      only build them (build-fuzz/fuzz/fuzz_TARGET)
#   make test-sanitize   library, CLI and every Check suite built with
#                        AddressSanitizer (LeakSanitizer included) and
#                        UndefinedBehaviorSanitizer in build-san/, then
#                        `make unit cases` with them
#   make test-valgrind   the golden cases with the CLI under valgrind memcheck
#   make test-big        1 GB streamed through the CLI in flat memory
#
# A single target: make fuzz FUZZ_TARGETS=reader FUZZ_SECONDS=600

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_B       ?= build-fuzz
FUZZ_TARGETS ?= record reader tokload tokenize cache regex regex_fast
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)

SAN_B      ?= build-san
SAN_CC     ?= clang
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# Check's time limits guard against hangs; the sanitizers make every case
# several times slower, so they are scaled here
SAN_ENV    := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
              UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 CK_TIMEOUT_MULTIPLIER=5

.PHONY: fuzz fuzz-build fuzz-bins test-sanitize test-valgrind test-big

fuzz-build:
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS)' LDFLAGS='$(FUZZ_SAN)' \
	    FUZZ_TARGETS='$(FUZZ_TARGETS)' fuzz-bins

fuzz-bins: $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(B)/liblookahead.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $< $(B)/liblookahead.a $(LDFLAGS) $(ALL_LIBS) -o $@

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_B)/corpus/$$t; \
	    case $$t in reader) ml=8192;; tokload) ml=16384;; tokenize) ml=2048;; cache) ml=512;; regex) ml=400;; regex_fast) ml=512;; *) ml=4096;; esac; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(SAN_ENV) $(FUZZ_B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	        -max_len=$$ml -print_final_stats=1 \
	        -dict=tests/fuzz/json.dict -artifact_prefix=$(FUZZ_B)/crash-$$t- \
	        $(FUZZ_B)/corpus/$$t tests/fuzz/corpus/$$t 2>$(FUZZ_B)/fuzz_$$t.log \
	    || { tail -n 60 $(FUZZ_B)/fuzz_$$t.log; echo "fuzz_$$t failed: see $(FUZZ_B)/fuzz_$$t.log"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_B)/fuzz_$$t.log || true; \
	done

test-sanitize:
	@$(SAN_ENV) $(MAKE) --no-print-directory B=$(SAN_B) CC=$(SAN_CC) CFLAGS='$(SAN_CFLAGS)' \
	    LDFLAGS='-fsanitize=address,undefined' unit cases

# The golden cases with the CLI wrapped in valgrind (memcheck, leaks, fd
# leaks left aside); any error exits 99 and fails its case.
test-valgrind: $(B)/lookahead
	@command -v valgrind >/dev/null || { echo "test-valgrind: valgrind is not installed"; exit 1; }
	@LA_REAL_LOOKAHEAD=$(abspath $(B)/lookahead) sh tests/cases/run.sh tests/fuzz/valgrind-lookahead.sh $(VALGRIND_CASES)

test-big: $(B)/lookahead
	@sh tests/fuzz/big.sh $(B)/lookahead

# test_hostile_cli runs the CLI built next to it
$(B)/tests/unit/test_hostile_cli: $(B)/lookahead
