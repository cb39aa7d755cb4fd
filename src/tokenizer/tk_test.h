/*
 * tk_test.h - hooks of the tokenizer's code for its tests and fuzzers
 * only: switches that turn an accelerator off so that a test can compare
 * it with the reference path, and views of internal state. The program
 * itself never calls these.
 */
#ifndef LA_TK_TEST_H
#define LA_TK_TEST_H

#include "tokenizer/tk.h"

/* ---- regular expressions (regex.c, regex_fast.c) ---------------------- */
/* 0 makes a pattern run on Oniguruma even when regex_fast.c knows it;
 * the name of the matcher selected for a pattern or of a matcher, NULL
 * for none. */
void tk_regex_set_fast(tk_regex *re, int on);
const char *tk_regex_fast_name(const tk_regex *re);
const char *tk_fast_name(const tk_fast *f);
/* The text of regex_fast.c's i-th known pattern in *len bytes, NULL past
 * the last (for tests that go over all of them). */
const char *tk_fast_pattern(size_t i, size_t *len);
/* The class bits (TK_FC_*) of a code point, as regex_fast.c sees it. */
enum { TK_FC_L = 1, TK_FC_N = 2, TK_FC_S = 4, TK_FC_UP = 8, TK_FC_LO = 16, TK_FC_M = 32, TK_FC_PS = 64 };
unsigned tk_fast_class(int32_t cp);

/* 1 once re's pattern is compiled (a known pattern waits until
 * Oniguruma is first needed). */
int tk_regex_compiled(const tk_regex *re);
/* The two compiled forms of re (Oniguruma's regex_t *): the pattern and
 * its counted copy (regex_bound.c), which budgeted searches run on
 * (compiled first if it was not). */
void tk_regex_forms(const tk_regex *re, void **plain, void **counted);

/* ---- BPE (bpe.c) ------------------------------------------------------- */
/* The entries of this thread's word cache (0 before its first use), for
 * tests of its growth. */
size_t tk_bpe_cache_slots(la_tok_work *w);
/* Remakes the compact merge table as full as it can be (the fewest
 * buckets with a free slot left), so that keys go past their own bucket;
 * the number that did, or 0 when the model has no compact table. */
int tk_bpe_compact_tight(tk_bpe *m);
/* 0 turns off the shortcuts that must give the same tokens as the plain
 * path (the per-thread word cache, the cutting tables, merging short
 * words by scanning instead of with the heap). */
void tk_bpe_set_fast(tk_bpe *m, int on);
/* The merge of the pair (a, b) as the model holds it: 1 with its rank
 * and new id, 0 when there is none; and how many merges it holds. */
int tk_bpe_merge_of(const tk_bpe *m, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *new_id);
size_t tk_bpe_merge_count(const tk_bpe *m);
/* A digest of the tables that cut long pieces (the pair set, the small
 * characters' cuts and ids), 0 when the model has none. */
uint64_t tk_bpe_chunk_digest(const tk_bpe *m);
/* A digest of the merge table as laid out (its size and every slot), so
 * that two ways of loading are seen to build the same one. */
uint64_t tk_bpe_merge_digest(const tk_bpe *m);
/* 1 holds the thread that resolves merges until the thread parsing them
 * has nothing left to look up (it has handed over its last chunk, or
 * waits for room with every chunk but the oldest claimed), so that the
 * parsing thread looks up the newest chunks before the oldest is
 * resolved; 0 (the default) lets it run. And how many chunks parsing
 * threads have looked up since the program started. */
void tk_bpe_set_hold_resolver(int on);
unsigned long tk_bpe_chunks_helped(void);
/* How many vocabularies were read while validated (tk_bpe_ahead_stream)
 * and made from that reading, since the program started. */
unsigned long tk_bpe_vocabs_streamed(void);
/* How many merges were read by their layout (the bytes between their
 * parts those of the element before) since the program started. */
unsigned long tk_bpe_merges_laid_out(void);
/* How many models read their merges again after validation, those read
 * while it went on not kept (tk_bpe_from_ahead), since the program
 * started. */
unsigned long tk_bpe_merges_read_again(void);

/* ---- loading (load.c) ------------------------------------------------- */
/* 0 makes loading read the vocabulary after validation, on the loading
 * thread, instead of ahead on a second one (1, the default); 2 reads it
 * ahead and never stops the cutting pairs made there early, so that a
 * test sees them made and then dropped. */
void tk_load_set_ahead(int on);
/* 0 makes the vocabulary read ahead wait for its object's validation to
 * end; 1 (the default) reads it while it is validated, from where the
 * object starts, where the process may run on several processors; 2
 * does so on one processor too. */
void tk_load_set_stream(int on);
/* 0 makes loading read the tokenizer file; 1 (the default) maps it
 * under a read lease where it can, from MAP_MIN bytes; 2 maps any size;
 * and how many files were mapped since the program started. */
void tk_load_set_map(int on);
unsigned long tk_load_files_mapped(void);
/* fn (NULL: none) is called as soon as a tokenizer file is mapped, with
 * its path and bytes, before they are parsed. */
void tk_load_set_map_hook(void (*fn)(const char *path, const char *data, size_t len));

/* ---- direct previews (direct.c) --------------------------------------- */
/* Forgets the words direct previews have kept, for tests that change how
 * the model tokenizes (no thread may be previewing). */
void tk_direct_clear(la_tokenizer *t);
/* Every set of the word table looks rewritten by another thread (busy =
 * 1), as long as the test wants, or free again (no thread may be
 * previewing). */
void tk_direct_set_busy(la_tokenizer *t, int busy);
/* 1 when the word table holds word (met first in a text). */
int tk_direct_kept(const la_tokenizer *t, const char *word);
/* 1 when the word table lies in a tokenizer cache entry's memory. */
int tk_direct_in_entry(const la_tokenizer *t);
/* 1 when the normalizer prepends the space's s, so that a text's first
 * word is looked up as the others. */
int tk_direct_lead(const la_tokenizer *t);
/* How many bytes the SIMD scans of direct previews stop at (the space, the
 * first bytes of added tokens, the backslash), 0 when too many for them. */
int tk_direct_stops(const la_tokenizer *t);
/* on = 1: direct previews make a preview only when their first loop
 * over the first words (dw_fast) makes it whole, else the general path
 * does; 0 (the default): the word-by-word loop goes on after it. */
void tk_direct_set_fast_only(la_tokenizer *t, int on);

/* ---- the tokenizer cache (load.c, bpe.c) -------------------------------- */
/* Sets the check of a tokenizer cache entry p[0..n) (a whole entry
 * file's bytes) to what its bytes give, so that a changed entry gets
 * past it to the checks of its parts: 1, or 0 when p cannot be an
 * entry. */
int tk_cache_reseal(char *p, size_t n);
/* Files from this size on are keyed by the hashes of their two halves
 * (hashed on two threads when read for a key, tk_cache_key_of_fd). */
#define TK_KEY_SPLIT ((size_t)4 << 20)
/* 1 when byte off of a good entry p[0..n) holds what only its check and
 * key vouch for, which the loader cannot tell from another tokenizer's
 * (the other members' text, the added tokens' contents and flags, merge
 * keys and ranks, the pair set, unk, prefix, suffix and option flags,
 * what the word table says of a word's tokens); a change anywhere else
 * is refused, changes no result, or (a merge's result) fails the first
 * word that looks that merge up. */
int tk_cache_vouched(const char *p, size_t n, size_t off);
/* Where the added tokens (tk_added_image) are in entry p[0..n): 1 with
 * their offset and length, 0 when p cannot be an entry. */
int tk_cache_added_part(const char *p, size_t n, size_t *off, size_t *len);
int tk_bpe_image_vouched(const char *p, size_t n, size_t off);
/* Where the result id of each merge of the image p[0..n) is (at most
 * cap of them into at, offsets in p), with the pair of ids it merges
 * (into pair, when not NULL): how many there are. */
size_t tk_bpe_image_results(const char *p, size_t n, size_t *at, uint32_t (*pair)[2], size_t cap);
/* Where the vocabulary's hash slots of the image p[0..n) start (*off, in
 * p; 8 bytes each: tag, entry index + 1): how many there are (0 when p
 * cannot be an image). */
size_t tk_bpe_image_slots(const char *p, size_t n, size_t *off);
/* The memory of the cache entry model m was made from (its length in
 * *len), NULL for a model parsed from a file. */
const void *tk_bpe_map(const tk_bpe *m, size_t *len);
/* Where the model's image is in entry p[0..n): 1 with its offset and
 * length, 0 when p cannot be an entry. */
int tk_cache_image_part(const char *p, size_t n, size_t *off, size_t *len);
int tk_added_image_vouched(const char *p, size_t n, size_t off);
/* The length of pattern p (tk_added_bucket's indices). */
size_t tk_added_pattern_len(const tk_added *a, uint32_t p);
/* The address whose program's (or shared object's) build id keys the
 * tokenizer cache (NULL: this code's own); one in no loaded object means
 * no build id, and then no cache. */
void tk_cache_build_anchor(const void *p);
/* How long before a load a tokenizer file's change and modification
 * times must be for its key to be recorded (cache_id.c; 2 s by default):
 * tests set it below 0 to record the key of a file made just now. */
void tk_cache_id_margin(int seconds);
/* The same for a cache entry's record that it passed its check
 * (tk_cache_ok_write), and the number of entry checks made
 * (tk_cache_entry_holds) since the program started. */
void tk_cache_ok_margin(int seconds);
unsigned long tk_cache_entry_checks(void);
/* How many times la_tokenizer_load read a tokenizer file's bytes (to
 * hash them or to parse them) since the program started. */
unsigned long tk_load_file_reads(void);
/* Images of vocabularies from n entries on have their hash slots
 * checked on a second thread (TK_IMAGE_THREADED by default), so that
 * tests take that path with small files too. */
#define TK_IMAGE_THREADED 16384u
void tk_bpe_image_threaded_from(uint32_t n);

/* Tokenizer cache entries are taken to lie on a network file system (1:
 * read, never mapped), on a local one (0), or as fstatfs says (-1, the
 * default). */
void tk_cache_set_network(int on);
#endif
