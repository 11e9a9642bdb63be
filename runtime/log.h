/*
 * runtime/log.h - the one logger of lienwatch's programs.
 *
 * One line per message on stderr, at syslog's levels (LOG_ERR, LOG_WARNING,
 * LOG_NOTICE, LOG_INFO, LOG_DEBUG from <syslog.h>). When stderr is the
 * journal stream systemd gave the process (JOURNAL_STREAM names its device
 * and inode), a line is "<N>message": the journal adds the time, program
 * and pid, and takes N as the priority. Otherwise a line reads
 *
 *     2026-01-02T03:04:05.678Z lienwatchd[1234]: warning: message
 *
 * (ISO 8601 UTC with milliseconds, whatever the process's TZ).
 *
 * Process-wide state, set once at start-up and then only read: the program
 * name, the most verbose level written, and whether stderr is the journal.
 * The log is for the loop's thread: a worker thread does not log.
 *
 * Also here: a rate limiter for one kind of repeated message, whose note
 * tells when the swallowed lines happened (not "in the last interval").
 */
#ifndef LWRT_LOG_H
#define LWRT_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

/*
 * Sets the program name of non-journal lines (borrowed: a string literal or
 * another string that outlives the process's logging). Default: the name
 * the process was started as (glibc's program_invocation_short_name).
 */
void lwrt_log_init(const char *prog);

/* Sets the most verbose level written (LOG_ERR .. LOG_DEBUG; out-of-range
 * values are clamped). Default LOG_INFO. */
void lwrt_log_set_level(int level);
int lwrt_log_get_level(void);

/* True when a line at level would be written (to skip costly arguments). */
bool lwrt_log_enabled(int level);

/* Writes one line at level (printf format, no trailing newline needed). */
void lwrt_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lwrt_vlog(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* "error", "warning", "notice", "info", "debug"; "?" for other values. */
const char *lwrt_log_level_name(int level);

/*
 * Parses one of the names above (also "err" and "warn") into *level.
 * Returns false (and leaves *level) when the name is unknown.
 */
bool lwrt_log_level_parse(const char *name, int *level);

/*
 * Forces (1) or forbids (0) the journal's "<N>" format, or (-1) goes back
 * to checking JOURNAL_STREAM at the next line. For tests.
 */
void lwrt_log_set_journal(int journal);

/* ---- rate limiting --------------------------------------------------- */

/*
 * State of one limiter: at most one line per interval; the lines in between
 * are swallowed, counted, and described by the next line written. Zero it
 * to start (a static or memset struct is ready).
 */
struct lwrt_limit {
    int64_t next_ms;     /* earliest time of the next line */
    uint64_t suppressed; /* lines swallowed since the last one written */
    int64_t first_ms;    /* time of the first swallowed line */
    int64_t last_ms;     /* time of the latest swallowed line */
};

/* What was swallowed before the line now allowed (see lwrt_limit_allow). */
struct lwrt_limit_note {
    uint64_t suppressed; /* how many lines; 0 = nothing to say */
    int64_t first_ms;    /* when the first of them happened */
    int64_t last_ms;     /* when the latest of them happened */
};

/*
 * Returns true when a line may be written at now_ms (then *note, which may
 * be NULL, says what was swallowed since the previous line, and the count
 * starts again); false to swallow this one. Times in any one clock, ms.
 */
bool lwrt_limit_allow(struct lwrt_limit *l, int64_t now_ms, int64_t interval_ms,
                      struct lwrt_limit_note *note);

/*
 * Describes when the swallowed lines happened, relative to now_ms, e.g.
 * "between 92 s and 81 s ago", "in the last 9 s", "12 s ago" (one line, or
 * all in the same second). Writes a NUL-terminated sentence fragment into
 * buf (len bytes, truncated if short). Returns buf.
 */
char *lwrt_limit_when(const struct lwrt_limit_note *note, int64_t now_ms,
                      char *buf, size_t len);

#endif
