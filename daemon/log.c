/*
 * log.c - see log.h. The only process-wide state is the level and whether
 * stderr goes to the journal: both are properties of the process, not of a
 * daemon instance.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lienwatch/timeutil.h"
#include "log.h"

static int current_level = LOG_INFO_;
static int journal = -1; /* -1 unknown, 0 no, 1 stderr is the journal */

static const char *const names[] = {"error", "warning", "info", "debug"};
/* sd-daemon priorities: err, warning, info, debug */
static const int sd_prio[] = {3, 4, 6, 7};

void log_set_level(int level)
{
    if (level < LOG_ERR_)
        level = LOG_ERR_;
    if (level > LOG_DEBUG_)
        level = LOG_DEBUG_;
    current_level = level;
}

int log_get_level(void)
{
    return current_level;
}

void log_msg(int level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    if (level > current_level)
        return;
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (journal) {
        fprintf(stderr, "<%d>%s\n", sd_prio[level], line);
    } else {
        struct timespec ts;
        char tbuf[LW_TIME_BUFLEN];
        clock_gettime(CLOCK_REALTIME, &ts);
        lw_time_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, tbuf,
                       sizeof(tbuf));
        fprintf(stderr, "%s lienwatchd[%s]: %s\n", tbuf, names[level], line);
    }
}

bool log_limit_allow(struct log_limit *l, int64_t now_ms, int64_t interval_ms,
                     uint64_t *suppressed)
{
    if (now_ms < l->next_ms) {
        l->suppressed++;
        return false;
    }
    l->next_ms = now_ms + interval_ms;
    *suppressed = l->suppressed;
    l->suppressed = 0;
    return true;
}
