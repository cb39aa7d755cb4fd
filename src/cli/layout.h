/* layout.h - the layout options: a LLaMA-Factory dataset_info.json entry
 * (--dataset-info, --dataset) or its columns and tags given directly
 * (--columns, --tags), turned into the configuration's layout. */
#ifndef LA_CLI_LAYOUT_H
#define LA_CLI_LAYOUT_H

#include "cli/cli.h"

typedef struct {
    /* the options as given (NULL: not given) */
    const char *info, *dataset, *columns, *tags;
    int format_given;
    /* owned, freed by cli_layout_free: what o->cfg.layout and the files
     * point into */
    void *root;               /* the parsed dataset_info.json */
    const void *entry;        /* the dataset's entry in it */
    char *info_file, *columns_copy, *tags_copy;
    char **files;
    size_t nfiles;
} cli_layout;

/* Resolves the options into o->cfg.layout and o->cfg.format, and, when
 * no FILE was given (have_files == 0) and a dataset entry is used, the
 * entry's own files into L->files (in name order for a folder). Sets
 * o->dataset_info to the file read. Returns 0, or an exit code after
 * printing why. */
int cli_layout_resolve(cli_layout *L, cli_opts *o, int have_files);
void cli_layout_free(cli_layout *L);

#endif
