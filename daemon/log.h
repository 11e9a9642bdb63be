/*
 * log.h - leveled logging to stderr for lienwatchd.
 *
 * Under systemd (JOURNAL_STREAM set) lines carry sd-daemon "<N>" priority
 * prefixes and no timestamp (the journal adds one); otherwise each line
 * starts with an ISO 8601 UTC timestamp and the level name.
 */
#ifndef LW_DAEMON_LOG_H
#define LW_DAEMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERR_ = 0, LOG_WARN_ = 1, LOG_INFO_ = 2, LOG_DEBUG_ = 3 };

/* Sets the least severe level written (default info). */
void log_set_level(int level);
int log_get_level(void);

/* Writes one line at level (format as printf, no trailing newline). */
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN_, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO_, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG_, __VA_ARGS__)

/*
 * A rate limiter for one kind of repeated message: at most one line per
 * interval; the lines in between are counted and reported with the next one.
 */
struct log_limit {
    int64_t next_ms;     /* earliest time of the next line */
    uint64_t suppressed; /* lines swallowed since the last one written */
};

/*
 * Returns true when a line may be written now (and then *suppressed says how
 * many were swallowed before it, the counter is reset); false to swallow.
 */
bool log_limit_allow(struct log_limit *l, int64_t now_ms, int64_t interval_ms,
                     uint64_t *suppressed);

#endif
