/*
 * tz.h - local civil time of an IANA time zone, without the process TZ.
 *
 * The C library's localtime_r() answers for one zone per process, chosen by
 * the TZ environment variable and tzset(): process-global state that a
 * library must not touch and that one daemon watching cars in several zones
 * cannot share. This module reads the zone's compiled tzdata file (TZif,
 * RFC 8536; what glibc reads too) into an immutable struct lw_tz and answers
 * "what is the UTC offset at instant t" from it, so any number of zones can
 * be used at once, from any thread, with no global state.
 *
 * Model: a zone is a sorted list of transitions (UTC instants at which the
 * offset changes), the offset in force before the first one, and an optional
 * POSIX TZ rule ("WET0WEST,M3.5.0/1,M10.5.0", the file's footer) that
 * describes every year after the last listed transition. Both "fat" and
 * "slim" TZif files work; zones with leap-second tables ("right/...") are
 * refused, since their timestamps are not POSIX time.
 *
 * Units: instants are UTC, int64_t seconds (_s) or milliseconds (_ms) since
 * the Unix epoch; offsets are seconds east of Greenwich (Lisbon in summer:
 * +3600, New York in winter: -18000), unlike the POSIX TZ string's sign.
 *
 * Local to UTC: a wall-clock time can be skipped (spring forward: 02:30 in
 * New York on the second Sunday of March) or repeated (fall back: 01:30 on
 * the first Sunday of November). lw_tz_mktime_s returns the earliest instant
 * whose wall clock reads that time, and for a skipped time the instant the
 * clock jumped over it.
 *
 * A NULL struct lw_tz * means UTC everywhere it is accepted.
 * Ownership: a struct lw_tz is owned by the caller of the constructor and
 * freed with lw_tz_free; it is never modified after construction, so it may
 * be shared between threads.
 */
#ifndef LIENWATCH_TZ_H
#define LIENWATCH_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"

/* Where Debian (and the tzdata package everywhere) installs zone files. */
#define LW_TZ_DIR "/usr/share/zoneinfo"
/* The system's zone: a copy of or a link to a zone file. */
#define LW_TZ_SYSTEM_FILE "/etc/localtime"
/* Longest zone name kept (IANA names are at most about 30 bytes). */
#define LW_TZ_NAME_MAX 63
/* Largest zone file read; real ones are under 4 KiB. */
#define LW_TZ_FILE_MAX (256 * 1024)

struct lw_tz;

/* A broken-down local time, like struct tm but with honest fields. */
struct lw_tz_local {
    int year;        /* e.g. 2024 */
    int month;       /* 1..12 */
    int day;         /* 1..31 */
    int hour;        /* 0..23 */
    int min;         /* 0..59 */
    int sec;         /* 0..59 */
    int wday;        /* day of the week, 0 = Sunday .. 6 = Saturday */
    int yday;        /* day of the year, 0 = 1 January */
    int32_t utoff_s; /* offset from UTC in force, seconds east */
    bool isdst;      /* daylight-saving (summer) time in force */
};

/*
 * Loads the zone 'zone' (an IANA name such as "Europe/Lisbon") from
 * LW_TZ_DIR. NULL or "" loads the system's zone from LW_TZ_SYSTEM_FILE (its
 * name is then "localtime"). "UTC" and "Etc/UTC" work even when no zone
 * files are installed. A name must be relative and made of letters, digits
 * and "/_+-.", without "." or ".." components.
 * On success *out is a new zone owned by the caller.
 * Returns LW_OK; LW_ERR_INVAL for a malformed name or file (detail says
 * which); LW_ERR_NOTFOUND when there is no such zone file; LW_ERR_IO when
 * it cannot be read; LW_ERR_NOMEM.
 */
enum lw_err lw_tz_load(const char *zone, struct lw_tz **out, char *err,
                       size_t errlen);

/* As lw_tz_load, reading zone files from the directory dir (borrowed). */
enum lw_err lw_tz_load_dir(const char *dir, const char *zone,
                           struct lw_tz **out, char *err, size_t errlen);

/*
 * Parses the TZif data (len bytes, borrowed) of a zone named 'name' (copied,
 * truncated to LW_TZ_NAME_MAX; NULL for none). Pure: no I/O.
 * Returns LW_OK (*out owned by the caller), LW_ERR_INVAL with detail for
 * data that is not a valid TZif file or has leap seconds, LW_ERR_NOMEM.
 */
enum lw_err lw_tz_from_tzif(const void *data, size_t len, const char *name,
                            struct lw_tz **out, char *err, size_t errlen);

/*
 * Builds a zone from a POSIX TZ rule string alone, e.g. "UTC0",
 * "WET0WEST,M3.5.0/1,M10.5.0", "<-03>3" or "EST5EDT,M3.2.0,M11.1.0"
 * (POSIX signs: the offset is hours WEST of Greenwich). The rule applies to
 * every year, past ones included. A DST name without rules takes the
 * United States rules "M3.2.0,M11.1.0", as glibc does.
 * Returns LW_OK (*out owned by the caller; its name is spec), LW_ERR_INVAL
 * with detail, LW_ERR_NOMEM.
 */
enum lw_err lw_tz_from_posix(const char *spec, struct lw_tz **out, char *err,
                             size_t errlen);

/* Frees tz. NULL is a no-op. */
void lw_tz_free(struct lw_tz *tz);

/* The zone's name ("Europe/Lisbon"); "UTC" for NULL. Valid while tz is. */
const char *lw_tz_name(const struct lw_tz *tz);

/* UTC offset in force at instant utc_s, seconds east. tz NULL: 0. */
int32_t lw_tz_offset_s(const struct lw_tz *tz, int64_t utc_s);

/* True when daylight-saving time is in force at utc_s. tz NULL: false. */
bool lw_tz_isdst(const struct lw_tz *tz, int64_t utc_s);

/* Local civil time at instant utc_ms (floored to the second) into *out. */
void lw_tz_localtime(const struct lw_tz *tz, int64_t utc_ms,
                     struct lw_tz_local *out);

/*
 * The UTC instant (seconds) at which the local wall clock reads
 * year-month-day hour:min:sec. Fields out of range are normalised the way
 * timegm() does (day 32 of January is 1 February; hour 24 is the next day).
 * For a repeated time the earlier instant, for a skipped time the instant of
 * the jump (see the file comment).
 */
int64_t lw_tz_mktime_s(const struct lw_tz *tz, int year, int month, int day,
                       int hour, int min, int sec);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12). */
int64_t lw_tz_days_from_civil(int64_t y, int m, int d);

/* Day of the week (0 = Sunday) of day number 'days' since 1970-01-01. */
int lw_tz_weekday(int64_t days);

#endif
