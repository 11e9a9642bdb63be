/*
 * spill.c - see spill.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lienwatch/spill.h"
#include "lienwatch/text.h"

/* Room for PATH.tmp and for the directory of PATH. */
#define PATH_BUF (PATH_MAX + 8)
/* Doubles with enough digits to read back exactly. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))
/* Longest line a reader accepts (a record is well under 2 KiB). */
#define LINE_MAX_BYTES 16384

struct lw_spill {
    FILE *f;              /* the temporary file */
    char path[PATH_BUF];  /* final name */
    char tmp[PATH_BUF];   /* temporary name */
    size_t n;             /* records written */
    int write_errno;      /* first write error, 0 when none */
};

static enum lw_err errno_class(int e)
{
    return e == ENOSPC || e == EDQUOT ? LW_ERR_FULL : LW_ERR_IO;
}

enum lw_err lw_spill_create(struct lw_spill **out, const char *path,
                            char *err, size_t errlen)
{
    struct lw_spill *sp;
    int fd, e;

    if (!out || !path || !*path) {
        lw_seterr(err, errlen, "spill: no path");
        return LW_ERR_INVAL;
    }
    *out = NULL;
    if (strlen(path) >= PATH_MAX) {
        lw_seterr(err, errlen, "spill: path too long");
        return LW_ERR_INVAL;
    }
    sp = calloc(1, sizeof(*sp));
    if (!sp) {
        lw_seterr(err, errlen, "spill: out of memory");
        return LW_ERR_NOMEM;
    }
    snprintf(sp->path, sizeof(sp->path), "%s", path);
    snprintf(sp->tmp, sizeof(sp->tmp), "%s.tmp", path);
    (void)unlink(sp->tmp);
    fd = open(sp->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(sp->f = fdopen(fd, "w"))) {
        e = errno;
        lw_seterr(err, errlen, "spill: cannot create %s: %s", sp->tmp,
                  strerror(e));
        if (fd >= 0) {
            close(fd);
            (void)unlink(sp->tmp);
        }
        free(sp);
        return errno_class(e);
    }
    if (fprintf(sp->f, "{\"lienwatch_spill\":%d}\n", LW_SPILL_VERSION) < 0 &&
        !sp->write_errno)
        sp->write_errno = errno ? errno : EIO;
    *out = sp;
    return LW_OK;
}

/* Sets key to d unless d is unknown (NAN). */
static void set_opt_real(json_t *o, const char *key, double d)
{
    if (isfinite(d))
        json_object_set_new(o, key, json_real(d));
}

static json_t *fix_json(const struct lw_fix *f)
{
    json_t *o = json_object();
    char trig[2] = {f->trigger, '\0'};

    json_object_set_new(o, "device", json_string(f->device));
    json_object_set_new(o, "fix_ms", json_integer(f->fix_time_ms));
    json_object_set_new(o, "recv_ms", json_integer(f->recv_time_ms));
    json_object_set_new(o, "lat", json_real(f->lat_deg));
    json_object_set_new(o, "lon", json_real(f->lon_deg));
    set_opt_real(o, "speed", f->speed_mps);
    set_opt_real(o, "course", f->course_deg);
    set_opt_real(o, "acc", f->accuracy_m);
    set_opt_real(o, "alt", f->alt_m);
    if (f->battery_pct >= 0)
        json_object_set_new(o, "batt", json_integer(f->battery_pct));
    if (f->trigger)
        json_object_set_new(o, "trig", json_string(trig));
    return o;
}

static json_t *rec_json(const struct lw_spill_rec *r)
{
    json_t *o;
    const struct lw_alert *a = &r->alert;

    switch (r->kind) {
    case LW_SPILL_FIX:
        o = fix_json(&r->fix);
        json_object_set_new(o, "t", json_string("fix"));
        return o;
    case LW_SPILL_HEARD:
        o = json_object();
        json_object_set_new(o, "t", json_string("heard"));
        json_object_set_new(o, "device", json_string(r->fix.device));
        json_object_set_new(o, "recv_ms", json_integer(r->fix.recv_time_ms));
        return o;
    case LW_SPILL_ACCOUNT:
        o = json_object();
        json_object_set_new(o, "t", json_string("account"));
        json_object_set_new(o, "account", json_string(r->account.account));
        json_object_set_new(o, "days_past_due",
                            json_integer(r->account.days_past_due));
        json_object_set_new(o, "status", json_string(r->account.status));
        json_object_set_new(o, "updated_ms", json_integer(r->updated_ms));
        return o;
    case LW_SPILL_ALERT:
        o = json_object();
        json_object_set_new(o, "t", json_string("alert"));
        json_object_set_new(o, "kind", json_string(lw_alert_kind_name(a->kind)));
        json_object_set_new(o, "device", json_string(a->device));
        json_object_set_new(o, "fence", json_string(a->fence));
        json_object_set_new(o, "fence_tag", json_integer(a->fence_tag));
        json_object_set_new(o, "raised_ms", json_integer(a->raised_ms));
        json_object_set_new(o, "late", json_boolean(a->late));
        json_object_set_new(o, "age_ms", json_integer(a->age_ms));
        json_object_set_new(o, "gap_ms", json_integer(a->gap_ms));
        set_opt_real(o, "moved_m", a->moved_m);
        if (a->has_fix)
            json_object_set_new(o, "fix", fix_json(&a->fix));
        if (a->other.device[0]) { /* tracker_separation, tracker_lost */
            json_t *ot = json_object();

            json_object_set_new(ot, "device", json_string(a->other.device));
            if (a->other.has_fix)
                json_object_set_new(ot, "fix", fix_json(&a->other.fix));
            set_opt_real(ot, "distance_m", a->other.distance_m);
            json_object_set_new(o, "other", ot);
        }
        return o;
    }
    return NULL;
}

enum lw_err lw_spill_add(struct lw_spill *sp, const struct lw_spill_rec *r)
{
    json_t *o;
    char *text;

    if (!sp || !r)
        return LW_ERR_INVAL;
    if (sp->write_errno)
        return errno_class(sp->write_errno);
    o = rec_json(r);
    if (!o)
        return LW_ERR_INVAL;
    text = json_dumps(o, JSON_FLAGS);
    json_decref(o);
    if (!text)
        return LW_ERR_NOMEM;
    errno = 0;
    if (fputs(text, sp->f) == EOF || fputc('\n', sp->f) == EOF)
        sp->write_errno = errno ? errno : EIO;
    free(text);
    if (sp->write_errno)
        return errno_class(sp->write_errno);
    sp->n++;
    return LW_OK;
}

/* fsync of the directory holding path, so the rename is durable. */
static int sync_dir(const char *path)
{
    char dir[PATH_BUF];
    char *slash;
    int fd, rc;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

enum lw_err lw_spill_commit(struct lw_spill *sp, char *err, size_t errlen)
{
    int e = 0;
    enum lw_err rc = LW_OK;

    if (!sp)
        return LW_ERR_INVAL;
    errno = 0;
    if (!sp->write_errno &&
        fprintf(sp->f, "{\"end\":%zu}\n", sp->n) < 0)
        sp->write_errno = errno ? errno : EIO;
    if (!sp->write_errno && fflush(sp->f) != 0)
        sp->write_errno = errno ? errno : EIO;
    if (!sp->write_errno && fsync(fileno(sp->f)) != 0)
        sp->write_errno = errno ? errno : EIO;
    if (fclose(sp->f) != 0 && !sp->write_errno)
        sp->write_errno = errno ? errno : EIO;
    sp->f = NULL;
    if (sp->write_errno) {
        e = sp->write_errno;
        lw_seterr(err, errlen, "spill: cannot write %s: %s", sp->tmp,
                  strerror(e));
        rc = errno_class(e);
        (void)unlink(sp->tmp);
        goto out;
    }
    if (rename(sp->tmp, sp->path) != 0) {
        e = errno;
        lw_seterr(err, errlen, "spill: cannot rename %s to %s: %s", sp->tmp,
                  sp->path, strerror(e));
        rc = errno_class(e);
        (void)unlink(sp->tmp);
        goto out;
    }
    if (sync_dir(sp->path) != 0) {
        e = errno;
        lw_seterr(err, errlen, "spill: cannot sync the directory of %s: %s",
                  sp->path, strerror(e));
        rc = LW_ERR_IO;
    }
out:
    free(sp);
    return rc;
}

void lw_spill_abort(struct lw_spill *sp)
{
    if (!sp)
        return;
    if (sp->f)
        fclose(sp->f);
    (void)unlink(sp->tmp);
    free(sp);
}

/* ---- reading ------------------------------------------------------------ */

static bool get_int(json_t *o, const char *key, int64_t *out, bool required)
{
    json_t *v = json_object_get(o, key);

    if (!v)
        return !required;
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool get_real(json_t *o, const char *key, double *out, bool required)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        *out = NAN;
        return !required;
    }
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

static bool get_str(json_t *o, const char *key, char *out, size_t len,
                    bool required)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        out[0] = '\0';
        return !required;
    }
    if (!json_is_string(v) || json_string_length(v) >= len)
        return false;
    lw_copy(out, len, json_string_value(v));
    return true;
}

static bool fix_from(json_t *o, struct lw_fix *f)
{
    int64_t batt = -1;
    char trig[2];

    lw_fix_init(f);
    if (!get_str(o, "device", f->device, sizeof(f->device), true) ||
        !f->device[0] || !get_int(o, "fix_ms", &f->fix_time_ms, true) ||
        !get_int(o, "recv_ms", &f->recv_time_ms, true) ||
        !get_real(o, "lat", &f->lat_deg, true) ||
        !get_real(o, "lon", &f->lon_deg, true) ||
        !get_real(o, "speed", &f->speed_mps, false) ||
        !get_real(o, "course", &f->course_deg, false) ||
        !get_real(o, "acc", &f->accuracy_m, false) ||
        !get_real(o, "alt", &f->alt_m, false) ||
        !get_int(o, "batt", &batt, false) || batt < -1 || batt > 100 ||
        !get_str(o, "trig", trig, sizeof(trig), false))
        return false;
    f->battery_pct = (int)batt;
    f->trigger = trig[0];
    return true;
}

static bool rec_from(json_t *o, struct lw_spill_rec *r)
{
    char t[16], kind[32];
    int64_t days = 0;
    json_t *late;

    memset(r, 0, sizeof(*r));
    if (!get_str(o, "t", t, sizeof(t), true))
        return false;
    if (strcmp(t, "fix") == 0) {
        r->kind = LW_SPILL_FIX;
        return fix_from(o, &r->fix);
    }
    if (strcmp(t, "heard") == 0) {
        r->kind = LW_SPILL_HEARD;
        lw_fix_init(&r->fix);
        return get_str(o, "device", r->fix.device, sizeof(r->fix.device),
                       true) &&
               r->fix.device[0] &&
               get_int(o, "recv_ms", &r->fix.recv_time_ms, true);
    }
    if (strcmp(t, "account") == 0) {
        r->kind = LW_SPILL_ACCOUNT;
        if (!get_str(o, "account", r->account.account,
                     sizeof(r->account.account), true) ||
            !r->account.account[0] ||
            !get_int(o, "days_past_due", &days, true) || days < 0 ||
            days > INT_MAX ||
            !get_str(o, "status", r->account.status,
                     sizeof(r->account.status), false) ||
            !get_int(o, "updated_ms", &r->updated_ms, true))
            return false;
        r->account.days_past_due = (int)days;
        return true;
    }
    if (strcmp(t, "alert") == 0) {
        struct lw_alert *a = &r->alert;
        json_t *fx = json_object_get(o, "fix");
        json_t *ot = json_object_get(o, "other");

        r->kind = LW_SPILL_ALERT;
        late = json_object_get(o, "late");
        if (!get_str(o, "kind", kind, sizeof(kind), true) ||
            lw_alert_kind_parse(kind, &a->kind) != LW_OK ||
            !get_str(o, "device", a->device, sizeof(a->device), true) ||
            !a->device[0] ||
            !get_str(o, "fence", a->fence, sizeof(a->fence), false) ||
            !get_int(o, "fence_tag", &a->fence_tag, false) ||
            !get_int(o, "raised_ms", &a->raised_ms, true) ||
            (late && !json_is_boolean(late)) ||
            !get_int(o, "age_ms", &a->age_ms, false) ||
            !get_int(o, "gap_ms", &a->gap_ms, false) ||
            !get_real(o, "moved_m", &a->moved_m, false))
            return false;
        a->late = late && json_is_true(late);
        if (fx) {
            if (!json_is_object(fx) || !fix_from(fx, &a->fix))
                return false;
            a->has_fix = true;
        } else {
            lw_fix_init(&a->fix);
        }
        lw_fix_init(&a->other.fix);
        a->other.distance_m = NAN;
        if (ot) { /* the other tracker of the vehicle */
            json_t *ofx = json_object_get(ot, "fix");

            if (!json_is_object(ot) ||
                !get_str(ot, "device", a->other.device,
                         sizeof(a->other.device), true) ||
                !a->other.device[0] ||
                !get_real(ot, "distance_m", &a->other.distance_m, false) ||
                (ofx && (!json_is_object(ofx) ||
                         !fix_from(ofx, &a->other.fix))))
                return false;
            a->other.has_fix = ofx != NULL;
        }
        return true;
    }
    return false;
}

enum lw_err lw_spill_read(const char *path, lw_spill_cb cb, void *ctx,
                          char *err, size_t errlen)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0, n = 0, capr = 0, lineno = 0;
    ssize_t len;
    struct lw_spill_rec *recs = NULL;
    bool header = false, ended = false;
    enum lw_err rc = LW_OK;

    if (!path || !cb)
        return LW_ERR_INVAL;
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return LW_ERR_NOTFOUND;
        lw_seterr(err, errlen, "spill: cannot open %s: %s", path,
                  strerror(errno));
        return LW_ERR_IO;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *o, *v;

        lineno++;
        if (ended || len > LINE_MAX_BYTES) {
            rc = LW_ERR_INVAL;
            break;
        }
        o = json_loadb(line, (size_t)len, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            rc = LW_ERR_INVAL;
            break;
        }
        if (!header) {
            v = json_object_get(o, "lienwatch_spill");
            header = json_is_integer(v) &&
                     json_integer_value(v) == LW_SPILL_VERSION;
            json_decref(o);
            if (!header) {
                rc = LW_ERR_INVAL;
                break;
            }
            continue;
        }
        v = json_object_get(o, "end");
        if (v) {
            ended = json_is_integer(v) && json_integer_value(v) >= 0 &&
                    (size_t)json_integer_value(v) == n;
            json_decref(o);
            if (!ended) {
                rc = LW_ERR_INVAL;
                break;
            }
            continue;
        }
        if (n == capr) {
            size_t nc = capr ? capr * 2 : 256;
            struct lw_spill_rec *nr = realloc(recs, nc * sizeof(*nr));
            if (!nr) {
                json_decref(o);
                rc = LW_ERR_NOMEM;
                break;
            }
            recs = nr;
            capr = nc;
        }
        if (!rec_from(o, &recs[n])) {
            json_decref(o);
            rc = LW_ERR_INVAL;
            break;
        }
        json_decref(o);
        n++;
    }
    if (rc == LW_OK && ferror(f)) {
        lw_seterr(err, errlen, "spill: cannot read %s: %s", path,
                  strerror(errno));
        rc = LW_ERR_IO;
    } else if (rc == LW_ERR_NOMEM) {
        lw_seterr(err, errlen, "spill: out of memory reading %s", path);
    } else if (rc != LW_OK) {
        lw_seterr(err, errlen, "spill: %s line %zu is not a valid %s", path,
                  lineno, header ? "record" : "spill header");
    } else if (!ended) {
        lw_seterr(err, errlen,
                  "spill: %s is truncated (no end line after %zu records)",
                  path, n);
        rc = LW_ERR_INVAL;
    }
    fclose(f);
    free(line);
    for (size_t i = 0; rc == LW_OK && i < n; i++)
        if (cb(ctx, &recs[i]) != 0)
            break;
    free(recs);
    return rc;
}
