/*
 * timeutil.h - ISO 8601 UTC times and human durations, without a clock.
 *
 * Times are int64_t milliseconds since the Unix epoch, UTC.
 */
#ifndef LIENWATCH_TIMEUTIL_H
#define LIENWATCH_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"

/* Length of the buffer lw_time_format needs: "2026-11-23T16:43:46.123Z". */
#define LW_TIME_BUFLEN 32

/*
 * Parses an ISO 8601 / RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm]"
 * (also with a space instead of T; a time without a zone is taken as UTC),
 * or a bare date "YYYY-MM-DD" (midnight UTC). Writes *out_ms.
 * Returns LW_OK or LW_ERR_INVAL.
 */
enum lw_err lw_time_parse(const char *s, int64_t *out_ms);

/*
 * Formats ms as "YYYY-MM-DDTHH:MM:SSZ" (whole seconds) or, when the
 * milliseconds are not zero, "YYYY-MM-DDTHH:MM:SS.mmmZ". buf must hold
 * LW_TIME_BUFLEN bytes. Returns buf.
 */
char *lw_time_format(int64_t ms, char *buf, size_t buflen);

/*
 * Parses a duration "90", "90s", "15m", "6h", "2d" (a bare number is
 * seconds). Writes *out_ms. Returns LW_OK or LW_ERR_INVAL (empty, negative,
 * unknown unit, overflow).
 */
enum lw_err lw_duration_parse(const char *s, int64_t *out_ms);

/* Formats a duration compactly ("2d3h", "15m", "42s"). Returns buf. */
char *lw_duration_format(int64_t ms, char *buf, size_t buflen);

#endif
