/* tokenize_cmd.h - `lookahead tokenize`: token ids, strings and previews
 * of texts, for checking the tokenizer against HuggingFace's. */
#ifndef LA_TOKENIZE_CMD_H
#define LA_TOKENIZE_CMD_H

/* Runs `lookahead tokenize ARGS` (argv[0] is "tokenize"); returns the
 * process exit code. */
int la_cli_tokenize(int argc, char **argv);

#endif
