/* merge_stats.c - `lookahead merge-stats A.json B.json ...`: adds up the
 * statistics of shards (or of any runs) into one report, written to
 * standard output, equal to what a single run over all of them reports
 * (seconds: the longest shard's, since shards run side by side). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int read_file(const char *path, la_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (la_buf_append(b, chunk, k)) {
            fclose(f);
            return -1;
        }
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}


int cli_merge_stats(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "Usage: lookahead merge-stats STATS.json...\n");
        return argc < 2 ? EXIT_USAGE : 0;
    }
    la_stats total;
    memset(&total, 0, sizeof total);
    la_config cfg;
    la_config_defaults(&cfg);
    char mode0[16] = "", unit0[16] = "";
    uint64_t m0 = 0;
    double secs = 0;
    for (int i = 1; i < argc; i++) {
        la_buf b = {0};
        if (read_file(argv[i], &b)) {
            cli_msg("%s: cannot open", argv[i]);
            la_buf_free(&b);
            return EXIT_NOINPUT;
        }
        la_stats st;
        char mode[16], unit[16];
        uint64_t m;
        double t;
        la_err e;
        if (la_stats_parse(b.data ? b.data : "", b.len, &st, mode, sizeof mode, unit, sizeof unit, &m, &t, &e)) {
            cli_msg("%s: %s", argv[i], e.msg);
            la_buf_free(&b);
            return EXIT_DATA;
        }
        if (st.status != LA_RUN_COMPLETE) {
            cli_msg("%s: the run stopped early (status %s): its counts do not cover its input; merge only complete "
                    "runs' reports", argv[i], st.status == LA_RUN_FAILED ? "failed" : "output_closed");
            la_buf_free(&b);
            return EXIT_DATA;
        }
        secs = t > secs ? t : secs;
        la_buf_free(&b);
        if (i == 1) {
            snprintf(mode0, sizeof mode0, "%s", mode);
            snprintf(unit0, sizeof unit0, "%s", unit);
            m0 = m;
        } else if (strcmp(mode, mode0) || strcmp(unit, unit0) || m != m0) {
            cli_msg("%s: made with other settings (mode %s, unit %s, m %llu) than %s", argv[i], mode,
                    unit[0] ? unit : "none", (unsigned long long)m, argv[1]);
            return EXIT_DATA;
        }
        if (la_stats_merge_report(&total, &st, i == 1, &e)) {
            cli_msg("%s: %s", argv[i], e.msg);
            return EXIT_DATA;
        }
    }
    la_stats_merge_end(&total);
    cfg.mode = strcmp(mode0, "virtual") == 0 ? LA_MODE_VIRTUAL : LA_MODE_REAL;
    cfg.unit = strcmp(unit0, "char") == 0 ? LA_UNIT_CHAR : strcmp(unit0, "token") == 0 ? LA_UNIT_TOKEN : LA_UNIT_WORD;
    cfg.m = (size_t)m0;
    la_buf out = {0};
    la_stats_json(&total, &cfg, secs, &out);
    int rc = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : EXIT_IOERR;
    la_buf_free(&out);
    return rc;
}
