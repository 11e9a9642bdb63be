/*
 * log.h - lienwatchd's logging names, kept while the daemon's files move to
 * the shared runtime logger (runtime/log.h: lwrt_log(LOG_ERR, ...), syslog
 * levels, journald detection). Everything here is a thin alias of it.
 */
#ifndef LW_DAEMON_LOG_H
#define LW_DAEMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/log.h"

/*
 * Sets the least severe level written, on the configuration's scale:
 * 0 error, 1 warning, 2 info, 3 debug (lw_config.log_level plus -v).
 */
static inline void log_set_level(int level)
{
    static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                       LOG_DEBUG};

    lwrt_log_set_level(syslog_level[level < 0 ? 0 : level > 3 ? 3 : level]);
}

#define log_err(...) lwrt_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) lwrt_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) lwrt_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) lwrt_log(LOG_DEBUG, __VA_ARGS__)

/* The rate limiter is the runtime's (struct lwrt_limit). */
#define log_limit lwrt_limit

/*
 * Returns true when a line may be written now (then *suppressed says how
 * many were swallowed before it, and the count starts again); false to
 * swallow. lwrt_limit_allow also says when they happened.
 */
static inline bool log_limit_allow(struct lwrt_limit *l, int64_t now_ms,
                                   int64_t interval_ms, uint64_t *suppressed)
{
    struct lwrt_limit_note note;

    if (!lwrt_limit_allow(l, now_ms, interval_ms, &note))
        return false;
    *suppressed = note.suppressed;
    return true;
}

#endif
