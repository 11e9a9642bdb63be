/*
 * log.c - levelled logging to stderr for lw-gpsbridge.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
 * sd-daemon "<N>" priority prefix and nothing else: the journal adds time
 * and program. Otherwise a line reads
 *   2026-01-02T03:04:05.678Z lw-gpsbridge[123]: warning: message
 * The level and the journal check are the only state (file-local).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

static enum gb_level max_level = GB_INFO;
static int to_journal = -1; /* -1: not checked yet */

static const char *const level_names[] = {
    [GB_ERR] = "error", [GB_WARNING] = "warning", [GB_NOTICE] = "notice",
    [GB_INFO] = "info", [GB_DEBUG] = "debug",
};

void gb_log_set_level(enum gb_level level)
{
    max_level = level;
}

enum gb_level gb_log_get_level(void)
{
    return max_level;
}

const char *gb_level_name(enum gb_level level)
{
    if (level < GB_ERR || level > GB_DEBUG)
        return "?";
    return level_names[level];
}

bool gb_level_parse(const char *name, enum gb_level *out)
{
    for (int l = GB_ERR; l <= GB_DEBUG; l++) {
        if (strcmp(name, level_names[l]) == 0) {
            *out = (enum gb_level)l;
            return true;
        }
    }
    return false;
}

int64_t gb_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gb_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when stderr is the journal stream systemd gave us. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void gb_log(enum gb_level level, const char *fmt, ...)
{
    char msg[1024], when[32];
    va_list ap;

    if (level > max_level)
        return;
    if (to_journal < 0)
        to_journal = stderr_is_journal();
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (to_journal)
        fprintf(stderr, "<%d>%s\n", (int)level, msg);
    else
        fprintf(stderr, "%s %s[%ld]: %s: %s\n",
                gb_time_format(gb_wall_ms(), when, sizeof when), GB_PROG,
                (long)getpid(), gb_level_name(level), msg);
    fflush(stderr);
}
