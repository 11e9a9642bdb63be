/*
 * tz.c - TZif (RFC 8536) and POSIX TZ rule reading, UTC offsets, local
 * civil time. See tz.h for the model.
 *
 * Invariants of struct lw_tz: trans[] strictly increasing; every
 * trans_type[i] < ntypes; ntypes >= 1; offsets within +/- MAX_UTOFF_S.
 * Calendar arithmetic is proleptic Gregorian on int64_t day numbers
 * (Howard Hinnant's days_from_civil / civil_from_days), so it is exact for
 * every instant a fix can carry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lienwatch/tz.h"

#define SECS_PER_DAY 86400
#define SECS_PER_HOUR 3600
/* RFC 8536: offsets should be in [-89999, 93599]; anything past 26 h is
 * garbage. */
#define MAX_UTOFF_S (26 * SECS_PER_HOUR)
/* POSIX rule times may run from -167 h to +167 h (RFC 8536 section 3.3.1). */
#define MAX_RULE_HOURS 167
/* Default rule time: 02:00 local. */
#define DEFAULT_RULE_TIME_S (2 * SECS_PER_HOUR)
/* The widest a UTC offset can be: the UTC instant of a wall-clock reading
 * lies within this many seconds of it. */
#define SEARCH_SPAN_S (27 * SECS_PER_HOUR)
/* TZif header size and the magic. */
#define TZIF_HEADER_LEN 44
#define TZIF_MAGIC "TZif"

/* One local time type: offset and DST flag. */
struct tz_type {
    int32_t utoff_s; /* seconds east of UTC */
    bool isdst;      /* daylight-saving time */
};

/* One date of a POSIX rule: Jn, n or Mm.w.d, plus the local time of day. */
struct tz_rule_date {
    char kind;      /* 'J' (1..365, no 29 Feb), 'N' (0..365), 'M' */
    int n;          /* day for 'J' and 'N' */
    int m, w, d;    /* month 1..12, week 1..5 (5 = last), weekday 0..6 */
    int32_t time_s; /* local time of the change, may be < 0 or > 24 h */
};

/* The POSIX TZ rule: standard offset, optional DST offset and dates. */
struct tz_rule {
    struct tz_type std;        /* standard time */
    struct tz_type dst;        /* daylight time, when has_dst */
    bool has_dst;              /* the zone observes DST */
    struct tz_rule_date start; /* DST starts (in standard local time) */
    struct tz_rule_date end;   /* DST ends (in daylight local time) */
};

struct lw_tz {
    char name[LW_TZ_NAME_MAX + 1]; /* e.g. "Europe/Lisbon" */
    size_t ntrans;                 /* number of transitions */
    int64_t *trans;                /* ntrans UTC instants, increasing */
    uint8_t *trans_type;           /* ntrans indexes into types */
    size_t ntypes;                 /* >= 1 */
    struct tz_type *types;         /* types[0] is in force before trans[0] */
    bool has_rule;                 /* rule applies after the last trans */
    struct tz_rule rule;           /* the footer (or the whole zone) */
};

/* ---- calendar -------------------------------------------------------- */

int64_t lw_tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of lw_tz_days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int lw_tz_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = (days + 4) % 7;

    return (int)(w < 0 ? w + 7 : w);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* ---- POSIX rules ----------------------------------------------------- */

/* Local seconds (since the epoch, as if UTC) at which rule date r falls in
 * year y, time of day included. */
static int64_t rule_local_s(const struct tz_rule_date *r, int64_t y)
{
    int64_t days;

    switch (r->kind) {
    case 'J':
        /* 1..365, 29 February never counted: day 60 is always 1 March. */
        days = lw_tz_days_from_civil(y, 1, 1) + r->n - 1;
        if (is_leap(y) && r->n >= 60)
            days++;
        break;
    case 'N':
        days = lw_tz_days_from_civil(y, 1, 1) + r->n;
        break;
    default: {
        int64_t first = lw_tz_days_from_civil(y, r->m, 1);
        int day = 1 + (r->d - lw_tz_weekday(first) + 7) % 7 + (r->w - 1) * 7;

        while (day > days_in_month(y, r->m))
            day -= 7;
        days = first + day - 1;
        break;
    }
    }
    return days * SECS_PER_DAY + r->time_s;
}

/* The type the rule puts in force at instant t. */
static struct tz_type rule_type(const struct tz_rule *r, int64_t t)
{
    int64_t y, start, end;
    int m, d;

    if (!r->has_dst)
        return r->std;
    civil_from_days(floor_div(t + r->std.utoff_s, SECS_PER_DAY), &y, &m, &d);
    start = rule_local_s(&r->start, y) - r->std.utoff_s;
    end = rule_local_s(&r->end, y) - r->dst.utoff_s;
    if (start < end) /* northern hemisphere: DST within the year */
        return (t >= start && t < end) ? r->dst : r->std;
    /* southern: DST across the new year */
    return (t >= end && t < start) ? r->std : r->dst;
}

/* Parses a zone abbreviation: alphabetic, or <...> quoted. */
static bool parse_abbr(const char **sp)
{
    const char *s = *sp;
    size_t n = 0;

    if (*s == '<') {
        s++;
        while (*s && *s != '>') {
            if (!(('A' <= *s && *s <= 'Z') || ('a' <= *s && *s <= 'z') ||
                  ('0' <= *s && *s <= '9') || *s == '+' || *s == '-'))
                return false;
            s++;
            n++;
        }
        if (*s != '>' || n < 3)
            return false;
        *sp = s + 1;
        return true;
    }
    while (('A' <= *s && *s <= 'Z') || ('a' <= *s && *s <= 'z')) {
        s++;
        n++;
    }
    if (n < 3)
        return false;
    *sp = s;
    return true;
}

/* Parses an unsigned decimal of at most 'digits' digits in [0, max]. */
static bool parse_num(const char **sp, int max, int *out)
{
    const char *s = *sp;
    int v = 0;

    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > max)
            return false;
        s++;
    }
    *sp = s;
    *out = v;
    return true;
}

/* Parses [+-]hh[:mm[:ss]] with hh <= max_h into seconds (sign applied). */
static bool parse_hms(const char **sp, int max_h, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h, m = 0, sec = 0;

    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!parse_num(&s, max_h, &h))
        return false;
    if (*s == ':') {
        s++;
        if (!parse_num(&s, 59, &m))
            return false;
        if (*s == ':') {
            s++;
            if (!parse_num(&s, 59, &sec))
                return false;
        }
    }
    *sp = s;
    *out = sign * (h * SECS_PER_HOUR + m * 60 + sec);
    return true;
}

/* Parses a rule date "Jn", "n" or "Mm.w.d" with an optional "/time". */
static bool parse_rule_date(const char **sp, struct tz_rule_date *r)
{
    const char *s = *sp;

    memset(r, 0, sizeof(*r));
    if (*s == 'J') {
        s++;
        r->kind = 'J';
        if (!parse_num(&s, 365, &r->n) || r->n < 1)
            return false;
    } else if (*s == 'M') {
        s++;
        r->kind = 'M';
        if (!parse_num(&s, 12, &r->m) || r->m < 1 || *s++ != '.' ||
            !parse_num(&s, 5, &r->w) || r->w < 1 || *s++ != '.' ||
            !parse_num(&s, 6, &r->d))
            return false;
    } else {
        r->kind = 'N';
        if (!parse_num(&s, 365, &r->n))
            return false;
    }
    r->time_s = DEFAULT_RULE_TIME_S;
    if (*s == '/') {
        s++;
        if (!parse_hms(&s, MAX_RULE_HOURS, &r->time_s))
            return false;
    }
    *sp = s;
    return true;
}

/* Parses a whole POSIX TZ string into *r. */
static bool parse_posix(const char *s, struct tz_rule *r)
{
    int32_t off;

    memset(r, 0, sizeof(*r));
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
        return false;
    r->std.utoff_s = -off;
    if (*s == '\0')
        return true;
    if (!parse_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst.isdst = true;
    r->dst.utoff_s = r->std.utoff_s + SECS_PER_HOUR;
    if (*s && *s != ',') {
        if (!parse_hms(&s, 24, &off))
            return false;
        r->dst.utoff_s = -off;
    }
    if (*s == '\0') {
        /* No rule: the United States rules, as glibc assumes. */
        const char *us = "M3.2.0,M11.1.0";
        return parse_rule_date(&us, &r->start) && *us++ == ',' &&
               parse_rule_date(&us, &r->end);
    }
    if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
        !parse_rule_date(&s, &r->end))
        return false;
    return *s == '\0';
}

/* ---- construction ---------------------------------------------------- */

static struct lw_tz *tz_alloc(const char *name)
{
    struct lw_tz *tz = calloc(1, sizeof(*tz));

    if (tz)
        lw_copy(tz->name, sizeof(tz->name), name ? name : "");
    return tz;
}

void lw_tz_free(struct lw_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->trans_type);
    free(tz->types);
    free(tz);
}

/* True when s is printable ASCII only (safe to quote in a message). */
static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

enum lw_err lw_tz_from_posix(const char *spec, struct lw_tz **out, char *err,
                             size_t errlen)
{
    struct lw_tz *tz;
    struct tz_rule r;

    if (!out || !spec) {
        lw_seterr(err, errlen, "no time zone rule given");
        return LW_ERR_INVAL;
    }
    if (!parse_posix(spec, &r) || r.std.utoff_s < -MAX_UTOFF_S ||
        r.std.utoff_s > MAX_UTOFF_S || r.dst.utoff_s < -MAX_UTOFF_S ||
        r.dst.utoff_s > MAX_UTOFF_S) {
        if (printable_ascii(spec))
            lw_seterr(err, errlen, "'%.64s' is not a POSIX TZ rule", spec);
        else
            lw_seterr(err, errlen, "not a POSIX TZ rule (it has bytes that "
                                   "are not printable ASCII)");
        return LW_ERR_INVAL;
    }
    tz = tz_alloc(spec);
    if (!tz)
        goto out_nomem;
    tz->types = malloc(sizeof(*tz->types));
    if (!tz->types)
        goto out_free;
    tz->types[0] = r.std;
    tz->ntypes = 1;
    tz->has_rule = true;
    tz->rule = r;
    *out = tz;
    return LW_OK;

out_free:
    lw_tz_free(tz);
out_nomem:
    lw_seterr(err, errlen, "out of memory");
    return LW_ERR_NOMEM;
}

/* Big-endian readers; the caller has checked the length. */
static int64_t be32s(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                     (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

static int64_t be64s(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32s(p) << 32 | (uint32_t)be32s(p + 4));
}

/* The six counts of a TZif header. */
struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(const unsigned char *p, size_t len,
                        struct tzif_counts *c, char *version)
{
    if (len < TZIF_HEADER_LEN || memcmp(p, TZIF_MAGIC, 4) != 0)
        return false;
    *version = (char)p[4];
    c->isut = (uint32_t)be32s(p + 20);
    c->isstd = (uint32_t)be32s(p + 24);
    c->leap = (uint32_t)be32s(p + 28);
    c->time = (uint32_t)be32s(p + 32);
    c->type = (uint32_t)be32s(p + 36);
    c->chars = (uint32_t)be32s(p + 40);
    return true;
}

/* Bytes of the data block after a header, for time values of tsize bytes;
 * 0 when the counts are impossible. */
static size_t block_len(const struct tzif_counts *c, size_t tsize)
{
    /* Counts are at most 2^32; the sum fits in 64-bit size_t. */
    if (c->type == 0 || c->type > 256 || c->chars == 0 ||
        (c->isut != 0 && c->isut != c->type) ||
        (c->isstd != 0 && c->isstd != c->type))
        return 0;
    return (size_t)c->time * (tsize + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

enum lw_err lw_tz_from_tzif(const void *data, size_t len, const char *name,
                            struct lw_tz **out, char *err, size_t errlen)
{
    const unsigned char *p = data;
    struct tzif_counts c;
    char version;
    size_t tsize = 4, blen, i;
    struct lw_tz *tz = NULL;
    const char *why = "not a TZif zone file";

    if (!out || (!data && len)) {
        lw_seterr(err, errlen, "no zone data given");
        return LW_ERR_INVAL;
    }
    if (!read_header(p, len, &c, &version))
        goto out_inval;
    blen = block_len(&c, 4);
    if (!blen || blen > len - TZIF_HEADER_LEN)
        goto out_inval;
    if (version != '\0') {
        /* Version 2+: skip the 32-bit block, read the 64-bit one. */
        p += TZIF_HEADER_LEN + blen;
        len -= TZIF_HEADER_LEN + blen;
        if (!read_header(p, len, &c, &version))
            goto out_inval;
        tsize = 8;
        blen = block_len(&c, 8);
        if (!blen || blen > len - TZIF_HEADER_LEN)
            goto out_inval;
    }
    if (c.leap) {
        why = "zone files with leap seconds (\"right/\") are not supported";
        goto out_inval;
    }
    tz = tz_alloc(name);
    if (!tz)
        goto out_nomem;
    tz->ntrans = c.time;
    tz->ntypes = c.type;
    tz->trans = malloc((c.time ? c.time : 1) * sizeof(*tz->trans));
    tz->trans_type = malloc(c.time ? c.time : 1);
    tz->types = malloc(c.type * sizeof(*tz->types));
    if (!tz->trans || !tz->trans_type || !tz->types)
        goto out_nomem;
    p += TZIF_HEADER_LEN;
    for (i = 0; i < c.time; i++, p += tsize) {
        tz->trans[i] = tsize == 8 ? be64s(p) : be32s(p);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            why = "zone file transitions are not in increasing order";
            goto out_inval;
        }
    }
    for (i = 0; i < c.time; i++, p++) {
        tz->trans_type[i] = *p;
        if (*p >= c.type) {
            why = "zone file refers to a missing local time type";
            goto out_inval;
        }
    }
    for (i = 0; i < c.type; i++, p += 6) {
        int64_t off = be32s(p);

        if (off < -MAX_UTOFF_S || off > MAX_UTOFF_S || p[4] > 1 ||
            p[5] >= c.chars) {
            why = "zone file has an invalid local time type";
            goto out_inval;
        }
        tz->types[i].utoff_s = (int32_t)off;
        tz->types[i].isdst = p[4];
    }
    p += c.chars + c.isstd + c.isut; /* no leap records (checked above) */
    len -= TZIF_HEADER_LEN + blen;
    /* Version 2+ footer: "\n" POSIX-TZ "\n"; an empty rule means none. */
    if (version != '\0' && len >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', len - 1);
        char rule[128];
        size_t n;

        if (!nl) {
            why = "zone file footer is not terminated";
            goto out_inval;
        }
        n = (size_t)(nl - (p + 1));
        if (n >= sizeof(rule)) {
            why = "zone file footer is too long";
            goto out_inval;
        }
        if (n > 0) {
            memcpy(rule, p + 1, n);
            rule[n] = '\0';
            if (!parse_posix(rule, &tz->rule)) {
                why = "zone file footer is not a POSIX TZ rule";
                goto out_inval;
            }
            tz->has_rule = true;
        }
    }
    *out = tz;
    return LW_OK;

out_inval:
    lw_tz_free(tz);
    lw_seterr(err, errlen, "%s: %s", name ? name : "zone", why);
    return LW_ERR_INVAL;
out_nomem:
    lw_tz_free(tz);
    lw_seterr(err, errlen, "out of memory");
    return LW_ERR_NOMEM;
}

/* True for a zone name we are willing to turn into a path. */
static bool name_ok(const char *zone)
{
    const char *s, *comp = zone;

    if (!*zone || *zone == '/' || strlen(zone) > LW_TZ_NAME_MAX)
        return false;
    for (s = zone;; s++) {
        if (*s == '/' || *s == '\0') {
            size_t n = (size_t)(s - comp);

            if (n == 0 || (n == 1 && comp[0] == '.') ||
                (n == 2 && comp[0] == '.' && comp[1] == '.'))
                return false;
            if (*s == '\0')
                return true;
            comp = s + 1;
            continue;
        }
        if (!(('A' <= *s && *s <= 'Z') || ('a' <= *s && *s <= 'z') ||
              ('0' <= *s && *s <= '9') || *s == '_' || *s == '+' || *s == '-' ||
              *s == '.'))
            return false;
    }
}

/* Reads the whole file at path into a new buffer. */
static enum lw_err read_file(const char *path, unsigned char **buf, size_t *len,
                             char *err, size_t errlen)
{
    enum lw_err rc = LW_OK;
    struct stat st;
    unsigned char *b = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? LW_ERR_NOTFOUND : LW_ERR_IO;
        lw_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > LW_TZ_FILE_MAX) {
        lw_seterr(err, errlen, "%s: not a zone file", path);
        rc = LW_ERR_INVAL;
        goto out_close;
    }
    b = malloc((size_t)st.st_size);
    if (!b) {
        lw_seterr(err, errlen, "out of memory");
        rc = LW_ERR_NOMEM;
        goto out_close;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            lw_seterr(err, errlen, "%s: %s", path,
                      r < 0 ? strerror(errno) : "short read");
            rc = LW_ERR_IO;
            free(b);
            b = NULL;
            goto out_close;
        }
        got += (size_t)r;
    }
    *buf = b;
    *len = got;
out_close:
    close(fd);
    return rc;
}

enum lw_err lw_tz_load_dir(const char *dir, const char *zone,
                           struct lw_tz **out, char *err, size_t errlen)
{
    char path[4096];
    unsigned char *buf = NULL;
    size_t len = 0;
    enum lw_err rc;
    bool system = !zone || !*zone;
    bool utc = !system && (!strcmp(zone, "UTC") || !strcmp(zone, "Etc/UTC"));

    if (!out || !dir) {
        lw_seterr(err, errlen, "no time zone given");
        return LW_ERR_INVAL;
    }
    if (!system && !name_ok(zone)) {
        if (printable_ascii(zone))
            lw_seterr(err, errlen,
                      "'%.64s' is not a time zone name (like Europe/Lisbon)",
                      zone);
        else
            lw_seterr(err, errlen, "not a time zone name (like "
                                   "Europe/Lisbon): it has bytes that are "
                                   "not printable ASCII");
        return LW_ERR_INVAL;
    }
    if (system)
        lw_copy(path, sizeof(path), LW_TZ_SYSTEM_FILE);
    else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, zone) >=
             sizeof(path)) {
        lw_seterr(err, errlen, "zone directory path is too long");
        return LW_ERR_INVAL;
    }
    rc = read_file(path, &buf, &len, err, errlen);
    if (rc == LW_ERR_NOTFOUND && utc) { /* no tzdata installed */
        rc = lw_tz_from_posix("UTC0", out, err, errlen);
        if (rc == LW_OK)
            lw_copy((*out)->name, sizeof((*out)->name), zone);
        return rc;
    }
    if (rc == LW_ERR_NOTFOUND && !system)
        lw_seterr(err, errlen, "unknown time zone '%s' (no %s)", zone, path);
    if (rc != LW_OK)
        return rc;
    rc = lw_tz_from_tzif(buf, len, system ? "localtime" : zone, out, err,
                         errlen);
    free(buf);
    return rc;
}

enum lw_err lw_tz_load(const char *zone, struct lw_tz **out, char *err,
                       size_t errlen)
{
    return lw_tz_load_dir(LW_TZ_DIR, zone, out, err, errlen);
}

/* ---- queries --------------------------------------------------------- */

const char *lw_tz_name(const struct lw_tz *tz)
{
    return tz ? tz->name : "UTC";
}

/* The local time type in force at instant t. */
static struct tz_type type_at(const struct lw_tz *tz, int64_t t)
{
    size_t lo = 0, hi;

    if (!tz)
        return (struct tz_type){0, false};
    if (tz->ntrans == 0)
        return tz->has_rule ? rule_type(&tz->rule, t) : tz->types[0];
    if (t < tz->trans[0])
        return tz->types[0];
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_type(&tz->rule, t);
    /* Largest i with trans[i] <= t. */
    hi = tz->ntrans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->types[tz->trans_type[lo]];
}

int32_t lw_tz_offset_s(const struct lw_tz *tz, int64_t utc_s)
{
    return type_at(tz, utc_s).utoff_s;
}

bool lw_tz_isdst(const struct lw_tz *tz, int64_t utc_s)
{
    return type_at(tz, utc_s).isdst;
}

void lw_tz_localtime(const struct lw_tz *tz, int64_t utc_ms,
                     struct lw_tz_local *out)
{
    int64_t t = floor_div(utc_ms, 1000);
    struct tz_type ty = type_at(tz, t);
    int64_t local = t + ty.utoff_s;
    int64_t days = floor_div(local, SECS_PER_DAY);
    int64_t sod = local - days * SECS_PER_DAY;
    int64_t y;

    civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->hour = (int)(sod / SECS_PER_HOUR);
    out->min = (int)(sod / 60 % 60);
    out->sec = (int)(sod % 60);
    out->wday = lw_tz_weekday(days);
    out->yday = (int)(days - lw_tz_days_from_civil(y, 1, 1));
    out->utoff_s = ty.utoff_s;
    out->isdst = ty.isdst;
}

int64_t lw_tz_mktime_s(const struct lw_tz *tz, int year, int month, int day,
                       int hour, int min, int sec)
{
    int64_t m0 = (int64_t)month - 1;
    int64_t y = year + floor_div(m0, 12);
    int64_t local, best = INT64_MAX, lo, hi;
    int32_t offs[3];
    int i;

    m0 -= floor_div(m0, 12) * 12;
    local =
        (lw_tz_days_from_civil(y, (int)m0 + 1, 1) + day - 1) * SECS_PER_DAY +
        (int64_t)hour * SECS_PER_HOUR + (int64_t)min * 60 + sec;
    /* The instant lies within SEARCH_SPAN_S of 'local'; the offsets in
     * force around there are among these three (transitions are far more
     * than a day apart). */
    offs[0] = lw_tz_offset_s(tz, local - SEARCH_SPAN_S);
    offs[1] = lw_tz_offset_s(tz, local);
    offs[2] = lw_tz_offset_s(tz, local + SEARCH_SPAN_S);
    for (i = 0; i < 3; i++) {
        int64_t t = local - offs[i];

        if (lw_tz_offset_s(tz, t) == offs[i] && t < best)
            best = t;
    }
    if (best != INT64_MAX)
        return best;
    /* Skipped: the clock jumped from before 'local' to after it. Find the
     * jump between the instant that reads 'local' under the later offset
     * (before the jump) and the one under the earlier (after it). */
    lo = local - (offs[0] > offs[2] ? offs[0] : offs[2]);
    hi = local - (offs[0] > offs[2] ? offs[2] : offs[0]);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;

        if (mid + lw_tz_offset_s(tz, mid) < local)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}
