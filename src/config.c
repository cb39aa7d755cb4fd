/* config.c - the configuration's defaults and the names its values go
 * by in statistics and messages. Below record.c and stats.c, which both
 * use them. */
#include "lookahead.h"

#include <string.h>

void la_config_defaults(la_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = LA_MODE_REAL;
    cfg->m = 6;
    cfg->unit = LA_UNIT_WORD;
    cfg->P = "Let's solve this problem. ";
    cfg->connector = " The answer begins with: ";
    cfg->input_field = "input";
    cfg->output_field = "output";
    cfg->format = LA_FMT_AUTO;
    cfg->turns = LA_TURNS_ALL;
    cfg->partial_complete = 1;
}

const char *la_mode_name(int mode) { return mode == LA_MODE_VIRTUAL ? "virtual" : "real"; }

const char *la_unit_name(int unit)
{
    return unit == LA_UNIT_CHAR ? "char" : unit == LA_UNIT_TOKEN ? "token" : "word";
}

const char *la_format_name(int format)
{
    static const char *const names[] = {"auto", "fields", "alpaca", "messages", "sharegpt", "prompt_completion"};
    return format >= 0 && format < LA_FMT_COUNT ? names[format] : "?";
}
