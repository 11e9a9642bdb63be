/*
 * runtime/log.c - see log.h. The program name, the level and the journal
 * check are the only state: properties of the process, not of an instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/log.h"

/* Longest message kept; longer ones are cut. */
#define LINE_MAX_BYTES 2048

static const char *prog_name; /* NULL: the process's own name */
static int max_level = LOG_INFO;
static int journal = -1; /* -1 not checked yet, 0 no, 1 stderr is the journal */

static const char *const level_names[] = {
    [LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",
    [LOG_CRIT] = "critical",   [LOG_ERR] = "error",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
};

void lwrt_log_init(const char *prog)
{
    if (prog && *prog)
        prog_name = prog;
}

void lwrt_log_set_level(int level)
{
    if (level < LOG_ERR)
        level = LOG_ERR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    max_level = level;
}

int lwrt_log_get_level(void)
{
    return max_level;
}

bool lwrt_log_enabled(int level)
{
    return level <= max_level;
}

const char *lwrt_log_level_name(int level)
{
    if (level < LOG_EMERG || level > LOG_DEBUG)
        return "?";
    return level_names[level];
}

bool lwrt_log_level_parse(const char *name, int *level)
{
    static const struct {
        const char *name;
        int level;
    } aliases[] = {{"err", LOG_ERR}, {"warn", LOG_WARNING}};

    for (int l = LOG_ERR; l <= LOG_DEBUG; l++) {
        if (strcmp(name, level_names[l]) == 0) {
            *level = l;
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(name, aliases[i].name) == 0) {
            *level = aliases[i].level;
            return true;
        }
    }
    return false;
}

void lwrt_log_set_journal(int j)
{
    journal = j < 0 ? -1 : j != 0;
}

/* True when stderr is the journal stream systemd connected us to: the
 * variable alone is inherited by children whose stderr may be elsewhere. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

/* "2026-01-02T03:04:05.678Z" into buf (at least 32 bytes). */
static void format_now(char *buf, size_t len)
{
    int64_t ms = lwrt_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    size_t n;

    if (!gmtime_r(&s, &tm) ||
        (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

void lwrt_vlog(int level, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES], when[40];
    size_t n;

    if (level > max_level)
        return;
    if (journal < 0)
        journal = stderr_is_journal();
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    if (journal) {
        fprintf(stderr, "<%d>%s\n", level, line);
    } else {
        format_now(when, sizeof(when));
        fprintf(stderr, "%s %s[%ld]: %s: %s\n", when,
                prog_name ? prog_name : program_invocation_short_name,
                (long)getpid(), lwrt_log_level_name(level), line);
    }
    fflush(stderr);
}

void lwrt_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lwrt_vlog(level, fmt, ap);
    va_end(ap);
}

/* ---- rate limiting --------------------------------------------------- */

bool lwrt_limit_allow(struct lwrt_limit *l, int64_t now_ms, int64_t interval_ms,
                      struct lwrt_limit_note *note)
{
    if (now_ms < l->next_ms) {
        if (l->suppressed++ == 0)
            l->first_ms = now_ms;
        l->last_ms = now_ms;
        return false;
    }
    if (note) {
        note->suppressed = l->suppressed;
        note->first_ms = l->first_ms;
        note->last_ms = l->last_ms;
    }
    l->next_ms = now_ms + interval_ms;
    l->suppressed = 0;
    l->first_ms = l->last_ms = 0;
    return true;
}

char *lwrt_limit_when(const struct lwrt_limit_note *note, int64_t now_ms,
                      char *buf, size_t len)
{
    int64_t oldest = now_ms - note->first_ms, newest = now_ms - note->last_ms;
    /* the older boundary rounded up, the newer one down: the span given
     * always contains the lines */
    long long from_s = (long long)((oldest + 999) / 1000);
    long long to_s = (long long)(newest / 1000);

    if (len == 0)
        return buf;
    if (oldest < 0 || newest < 0) /* a clock step: say no more than true */
        snprintf(buf, len, "at times not known");
    else if ((note->suppressed <= 1 || from_s <= to_s + 1) && to_s == 0)
        snprintf(buf, len, "in the last second");
    else if (note->suppressed <= 1 || from_s <= to_s + 1)
        snprintf(buf, len, "%lld s ago", to_s);
    else if (to_s == 0)
        snprintf(buf, len, "in the last %lld s", from_s);
    else
        snprintf(buf, len, "between %lld s and %lld s ago", from_s, to_s);
    return buf;
}
