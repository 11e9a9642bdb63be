/*
 * outbox.c - alert e-mail: outbox table, message text, storm digests
 * (outbox.h).
 *
 * Tables (schema migration 3, lib/schema.c):
 *   outbox       one row per mail and recipient (see outbox.h); unique on
 *                (message_id, recipient), so queueing a mail twice is a
 *                no-op; a partial index finds due rows
 *   outbox_held  alerts held for a storm digest
 *   alerts_by_kind_time   counts recent alerts of a kind (storm detection)
 *   meta 'mail_instance'  random 32-bit tag of this database for Message-IDs
 *
 * Statements go through lib/db.c (prepared once per handle); errors are
 * recorded in the store's handle as "outbox: <what>: <why>" and returned in
 * the classes of err.h. The message text is English, in UTF-8; what the vehicle
 * is called (plate, description) is shown as stored.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "lienwatch/config.h"
#include "lienwatch/geo.h"
#include "lienwatch/mime.h"
#include "lienwatch/outbox.h"
#include "lienwatch/places.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/tz.h"
#include "sbuf.h"
#include "store_priv.h"

/* Milliseconds per second. */
#define MS_PER_S INT64_C(1000)
/* Metres per kilometre, and the distance from which km are shown. */
#define M_PER_KM 1000.0
/* Kilometres per hour in a metre per second. */
#define KMH_PER_MPS 3.6
/* Room for a URL or geo: URI. */
#define LINK_LEN 192
/* Room for a duration text ("12d23h59m59s"). */
#define DUR_LEN 48
/* Width of the label column in the mail text. */
#define LABEL_W 18
/* Room for the instance tag (8 hex digits). */
#define INSTANCE_LEN 24
/* Width of a "#12345 " column in digests. */
#define DIGEST_INDENT "       "

static const char *const state_names[] = {
    [LW_OUTBOX_PENDING] = "pending",
    [LW_OUTBOX_SENT] = "sent",
    [LW_OUTBOX_FAILED] = "failed",
};

const char *lw_outbox_state_name(enum lw_outbox_state s)
{
    if (s < LW_OUTBOX_PENDING || s > LW_OUTBOX_FAILED)
        return "unknown";
    return state_names[s];
}

enum lw_err lw_outbox_state_parse(const char *s, enum lw_outbox_state *out)
{
    if (!s || !out)
        return LW_ERR_INVAL;
    for (int i = LW_OUTBOX_PENDING; i <= LW_OUTBOX_FAILED; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum lw_outbox_state)i;
            return LW_OK;
        }
    }
    return LW_ERR_INVAL;
}

void lw_mail_release(struct lw_mail *m)
{
    if (!m)
        return;
    free(m->message_id);
    free(m->subject);
    free(m->message);
    m->message_id = m->subject = m->message = NULL;
}

/* ---- what each kind means ---------------------------------------------------
 */

struct kind_text {
    const char *what;   /* "left the area it must stay in" */
    const char *advice; /* what to do, wrapped at 76 columns */
};

static const struct kind_text kind_texts[LW_ALERT_KIND_COUNT_] = {
    [LW_ALERT_GEOFENCE_EXIT] =
        {"left the area it must stay in",
         "The vehicle of an overdue account left its permitted area. Check "
         "where it\nis now and whether it keeps moving away; send a field "
         "recovery agent while\nthe position is fresh."},
    [LW_ALERT_GEOFENCE_ENTER] =
        {"entered a place it must not be",
         "The vehicle is inside a forbidden area (a port, a border crossing, "
         "a known\nchop shop). Act before it leaves: alert the recovery desk "
         "now and follow its\nposition."},
    [LW_ALERT_DWELL] =
        {"stayed too long in a place it must not be",
         "The vehicle has stayed inside a forbidden area longer than allowed. "
         "Send a\nfield agent to the position below."},
    [LW_ALERT_OFFLINE] =
        {"went silent",
         "The tracker stopped reporting: unplugged, jammed, out of coverage "
         "or out of\nbattery. Start from the last position below and from "
         "the places where the\nvehicle usually parks (below). If many "
         "trackers went silent at the same\ntime, suspect a network outage "
         "first."},
    [LW_ALERT_BACK_ONLINE] =
        {"reports again",
         "The tracker reports again after a silence. Compare its position "
         "with the\nlast one before the silence: a long distance means the "
         "vehicle was moved\nwhile the tracker was dark."},
    [LW_ALERT_POWER_CUT] =
        {"lost the tracker's external power",
         "The tracker reports that its external power was cut: it may have "
         "been\nunplugged or the battery disconnected. Expect it to go "
         "silent; note the\nposition below and send an agent."},
    [LW_ALERT_TOW] =
        {"is being towed",
         "The tracker reports that the vehicle is being towed or lifted. "
         "Follow its\nposition now and alert the recovery desk."},
    [LW_ALERT_LOW_BATTERY] =
        {"has a tracker with a low battery",
         "The tracker's battery is low: it may go silent soon. Note the "
         "position\nbelow."},
    [LW_ALERT_GPS_JUMP] =
        {"reported an impossible jump",
         "The tracker reported a position too far from the previous one to "
         "have been\ndriven in the time between: a spoofed or replayed GPS "
         "signal, or a tracker\nmoved to another vehicle. The position below "
         "is the suspect one; the\nlast-known position and the geofences "
         "ignore it until a following fix\nconfirms it."},
    [LW_ALERT_NEW_OVERNIGHT_PLACE] =
        {"spent the night somewhere new",
         "The vehicle spent the night far from every place where it spent a "
         "night in the\nlast 60 days: it may have been moved to be hidden "
         "or sold. The position below\nis where it is now; 'lienwatch "
         "places' lists its usual places."},
    [LW_ALERT_LONG_MOVE] =
        {"is far from where it usually spends the night",
         "The vehicle is farther than [places] long_move_km from its usual "
         "night place: a\nlong trip, or on its way to be sold or taken "
         "across a border. Follow its\nposition."},
    [LW_ALERT_TRACKER_SEPARATION] =
        {"has two trackers far apart",
         "Two trackers of the same vehicle report positions farther apart "
         "than their\naccuracy allows (at least 300 m), in two pairs of fixes "
         "in a row: one of\nthem was taken out of the vehicle, or the "
         "vehicle was swapped. Both\npositions are below; send an agent to "
         "the one that moves."},
    [LW_ALERT_TRACKER_LOST] =
        {"has a tracker gone quiet while another reports",
         "One tracker of the vehicle has been silent for more than half its "
         "allowance\nwhile another tracker of the same vehicle keeps "
         "reporting, away from where\nthe silent one last was: it may have "
         "been found and removed or destroyed.\nFollow the tracker that "
         "still reports; both positions are below."},
    [LW_ALERT_PARKED_LONG] =
        {"has not moved for days",
         "The tracker keeps reporting from the same place (within 200 m) "
         "for longer than\n[alerts] parked_alert_after: the vehicle may be "
         "hidden, abandoned or stored.\nSend an agent to the position "
         "below."},
};

static const struct kind_text *kind_text(enum lw_alert_kind k)
{
    static const struct kind_text unknown = {"raised an alert",
                                             "See the details below."};

    if ((unsigned)k >= LW_ALERT_KIND_COUNT_ || !kind_texts[k].what)
        return &unknown;
    return &kind_texts[k];
}

/* ---- text helpers ---------------------------------------------------------
 */

/* "  Label:            value\n" */
static void field(struct lw_sb *b, const char *label, const char *value)
{
    lw_sb_printf(b, "  %-*s %s\n", LABEL_W, label, value);
}

static void heading(struct lw_sb *b, const char *title)
{
    size_t n = strlen(title);

    lw_sb_printf(b, "\n%s\n", title);
    while (n--)
        lw_sb_putc(b, '-');
    lw_sb_putc(b, '\n');
}

static const char *or_unknown(const char *s)
{
    return s && s[0] ? s : "(unknown)";
}

static void put_distance(struct lw_sb *b, double m)
{
    if (!isfinite(m))
        lw_sb_puts(b, "unknown");
    else if (m >= M_PER_KM)
        lw_sb_printf(b, "%.1f km", m / M_PER_KM);
    else
        lw_sb_printf(b, "%.0f m", m);
}

static const char *dur(int64_t ms, char *buf)
{
    if (ms < 0)
        ms = 0;
    /* whole seconds read better in mail */
    return lw_duration_format(ms - ms % MS_PER_S, buf, DUR_LEN);
}

/* "PLATE (device DEV)" or "device DEV". */
static void put_label(struct lw_sb *b, const char *device,
                      const struct lw_vehicle *v)
{
    if (v && v->plate[0])
        lw_sb_printf(b, "%s (device %s)", v->plate, device);
    else
        lw_sb_printf(b, "device %s", device);
}

/* The position block of an alert's fix. */
static void put_fix(struct lw_sb *b, const struct lw_alert *a)
{
    const struct lw_fix *f = &a->fix;
    char tbuf[LW_TIME_BUFLEN], dbuf[DUR_LEN], link[LINK_LEN];
    struct lw_sb line = {0};
    char *t;

    lw_sb_printf(&line, "%s (%s before the alert)",
                 lw_time_format(f->fix_time_ms, tbuf, sizeof(tbuf)),
                 dur(a->raised_ms - f->fix_time_ms, dbuf));
    t = lw_sb_take(&line);
    field(b, "Fix time:", t ? t : "");
    free(t);
    snprintf(link, sizeof(link), "%.6f, %.6f", f->lat_deg, f->lon_deg);
    field(b, "Latitude, long.:", link);
    if (lw_has(f->accuracy_m)) {
        snprintf(link, sizeof(link), "%.0f m", f->accuracy_m);
        field(b, "Accuracy:", link);
    } else {
        field(b, "Accuracy:", "(not reported)");
    }
    if (lw_has(f->speed_mps)) {
        if (lw_has(f->course_deg))
            snprintf(link, sizeof(link), "%.1f km/h, course %.0f degrees",
                     f->speed_mps * KMH_PER_MPS, f->course_deg);
        else
            snprintf(link, sizeof(link), "%.1f km/h",
                     f->speed_mps * KMH_PER_MPS);
        field(b, "Speed:", link);
    }
    if (f->recv_time_ms > 0)
        field(b, "Received at:",
              lw_time_format(f->recv_time_ms, tbuf, sizeof(tbuf)));
    field(b, "OpenStreetMap:",
          lw_osm_url(f->lat_deg, f->lon_deg, link, sizeof(link)));
    field(
        b, "geo: URI:",
        lw_geo_uri(f->lat_deg, f->lon_deg, f->accuracy_m, link, sizeof(link)));
}

/* Domain of the From address (for Message-IDs); LW_ERR_INVAL when bad. */
static enum lw_err from_domain(const char *from, char *out, size_t len)
{
    char addr[LW_MIME_ADDR_MAX + 1];
    enum lw_err e = lw_mime_addr_spec(from, addr, sizeof(addr));

    if (e != LW_OK)
        return LW_ERR_INVAL;
    snprintf(out, len, "%s", strchr(addr, '@') + 1);
    return LW_OK;
}

/* "To: a@x, b@y\r\n" from the comma-separated addr-specs. */
static char *to_header(const char *list)
{
    struct lw_sb b = {0};
    char *v, *h;

    for (const char *p = list; *p; p++) {
        lw_sb_putc(&b, *p);
        if (*p == ',')
            lw_sb_putc(&b, ' ');
    }
    v = lw_sb_take(&b);
    if (!v)
        return NULL;
    h = lw_mime_header("To", v);
    free(v);
    return h;
}

/* Headers common to single and digest mails, then the QP body. */
static enum lw_err finish_message(const struct lw_mail_env *env,
                                  const char *subject, const char *msgid,
                                  const char *extra_name,
                                  const char *extra_value, const char *body,
                                  struct lw_mail *out)
{
    struct lw_sb b = {0};
    char date[LW_MIME_DATE_BUFLEN];
    char *h;
    char *qp = lw_mime_qp(body);

    if (!qp)
        return LW_ERR_NOMEM;
    lw_sb_printf(&b, "Date: %s\r\n",
                 lw_mime_date(env->now_ms, date, sizeof(date)));
    h = lw_mime_mailbox_header("From", env->from);
    lw_sb_puts(&b, h ? h : "");
    b.oom |= !h;
    free(h);
    h = to_header(env->to);
    lw_sb_puts(&b, h ? h : "");
    b.oom |= !h;
    free(h);
    h = lw_mime_header("Subject", subject);
    lw_sb_puts(&b, h ? h : "");
    b.oom |= !h;
    free(h);
    lw_sb_printf(&b, "Message-ID: %s\r\n", msgid);
    lw_sb_puts(&b, "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n"
                   "Auto-Submitted: auto-generated\r\n");
    h = lw_mime_header(extra_name, extra_value);
    lw_sb_puts(&b, h ? h : "");
    b.oom |= !h;
    free(h);
    lw_sb_puts(&b, "\r\n");
    lw_sb_puts(&b, qp);
    free(qp);
    if (b.len < 2 || memcmp(b.p + b.len - 2, "\r\n", 2) != 0)
        lw_sb_puts(&b, "\r\n");
    out->message = lw_sb_take(&b);
    return out->message ? LW_OK : LW_ERR_NOMEM;
}

static bool env_ok(const struct lw_mail_env *env)
{
    return env && env->from && env->to && env->instance;
}

enum lw_err lw_mail_compose_alert(const struct lw_mail_env *env,
                                  int64_t alert_id, const struct lw_alert *a,
                                  const struct lw_vehicle *v,
                                  const struct lw_account *acct,
                                  struct lw_mail *out)
{
    const struct kind_text *kt;
    const char *kind;
    char domain[LW_MIME_ADDR_MAX + 1], tbuf[LW_TIME_BUFLEN], dbuf[DUR_LEN];
    char idbuf[64];
    struct lw_sb b = {0}, s = {0}, m = {0};
    enum lw_err e;
    char *body;

    if (!out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!env_ok(env) || !a)
        return LW_ERR_INVAL;
    if (from_domain(env->from, domain, sizeof(domain)) != LW_OK)
        return LW_ERR_INVAL;
    kind = lw_alert_kind_name(a->kind);
    kt = kind_text(a->kind);

    lw_sb_printf(&m, "<alert-%" PRId64 ".%s@%s>", alert_id, env->instance,
                 domain);
    out->message_id = lw_sb_take(&m);

    lw_sb_printf(&s, "[lienwatch] %s: ", kind);
    put_label(&s, a->device, v);
    lw_sb_printf(&s, " %s", kt->what);
    if (a->fence[0])
        lw_sb_printf(&s, " (%s)", a->fence);
    out->subject = lw_sb_take(&s);

    /* the story first */
    lw_sb_printf(&b, "lienwatch alert #%" PRId64 ": %s\n\nVehicle ", alert_id,
                 kind);
    put_label(&b, a->device, v);
    lw_sb_printf(&b, " %s", kt->what);
    if (a->fence[0])
        lw_sb_printf(&b, " (geofence \"%s\")", a->fence);
    lw_sb_printf(&b, " at %s.\n",
                 lw_time_format(a->raised_ms, tbuf, sizeof(tbuf)));

    heading(&b, "What to do");
    lw_sb_printf(&b, "%s\n\n", kt->advice);
    lw_sb_printf(&b,
                 "  Where is it now:   lienwatch locate %s --reason "
                 "'alert %" PRId64 "'\n",
                 a->device, alert_id);
    lw_sb_printf(&b,
                 "  Where it has been: lienwatch history %s --reason "
                 "'alert %" PRId64 "'\n",
                 a->device, alert_id);
    if (a->kind == LW_ALERT_OFFLINE)
        lw_sb_printf(&b,
                     "  Where it parks:    lienwatch places %s --reason "
                     "'alert %" PRId64 "'\n",
                     a->device, alert_id);
    lw_sb_printf(
        &b, "  When handled:      lienwatch alerts ack %" PRId64 " --by NAME\n",
        alert_id);

    heading(&b, "Alert");
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, alert_id);
    field(&b, "Alert id:", idbuf);
    field(&b, "Kind:", kind);
    field(&b, "Raised at:", lw_time_format(a->raised_ms, tbuf, sizeof(tbuf)));
    if (a->fence[0])
        field(&b, "Geofence:", a->fence);
    if (a->late) {
        struct lw_sb l = {0};
        char *t;
        lw_sb_printf(&l,
                     "yes: revealed by a fix %s old that arrived late "
                     "(stored and forwarded)",
                     dur(a->age_ms, dbuf));
        t = lw_sb_take(&l);
        field(&b, "Late:", t ? t : "yes");
        free(t);
    }

    heading(&b, "Vehicle and account");
    field(&b, "Device:", a->device);
    field(&b, "Plate:", or_unknown(v ? v->plate : NULL));
    field(&b, "VIN:", or_unknown(v ? v->vin : NULL));
    field(&b, "Description:", or_unknown(v ? v->description : NULL));
    field(&b, "Account:", or_unknown(v ? v->account : NULL));
    if (acct) {
        char n[64];
        snprintf(n, sizeof(n), "%d%s%s%s", acct->days_past_due,
                 acct->status[0] ? " (" : "", acct->status,
                 acct->status[0] ? ")" : "");
        field(&b, "Days past due:", n);
    } else {
        field(&b, "Days past due:", "(unknown)");
    }

    if (a->kind == LW_ALERT_OFFLINE)
        heading(&b, "Last position before the silence");
    else if (a->kind == LW_ALERT_BACK_ONLINE)
        heading(&b, "First position after the silence");
    else
        heading(&b, "Position");
    if (a->has_fix)
        put_fix(&b, a);
    else
        lw_sb_puts(&b, "  No position of this vehicle is known yet.\n");

    if (a->other.device[0]) { /* tracker_separation, tracker_lost */
        struct lw_alert o = *a;
        struct lw_sb l = {0};
        char *t;

        heading(&b, a->kind == LW_ALERT_TRACKER_LOST
                        ? "The tracker that still reports"
                        : "The vehicle's other tracker");
        field(&b, "Device:", a->other.device);
        o.fix = a->other.fix;
        if (a->other.has_fix)
            put_fix(&b, &o);
        put_distance(&l, a->other.distance_m);
        t = lw_sb_take(&l);
        field(&b, "Apart:", t ? t : "");
        free(t);
    }
    if (a->kind == LW_ALERT_OFFLINE) {
        heading(&b, "Where it usually parks");
        if (env->places && env->places[0])
            lw_sb_puts(&b, env->places);
        else
            lw_sb_printf(&b,
                         "  No usual place in the last %d days of its "
                         "history (no stop of 15 minutes\n  or more).\n",
                         LW_OUTBOX_PLACES_DAYS);
    }
    if (a->kind == LW_ALERT_OFFLINE || a->kind == LW_ALERT_BACK_ONLINE) {
        heading(&b, "Silence");
        field(&b, a->kind == LW_ALERT_OFFLINE ? "Silent for:" : "Was silent:",
              dur(a->gap_ms, dbuf));
        if (a->kind == LW_ALERT_OFFLINE && a->jamming_suspected)
            field(&b, "Jamming:",
                  "suspected: its fixes were less accurate than 1 km for "
                  "10 minutes or more before it went silent");
        if (a->kind == LW_ALERT_BACK_ONLINE) {
            struct lw_sb l = {0};
            char *t;
            put_distance(&l, a->moved_m);
            if (!isfinite(a->moved_m))
                lw_sb_puts(&l, " (no position before or after)");
            t = lw_sb_take(&l);
            field(&b, "Moved meanwhile:", t ? t : "");
            free(t);
        }
    }
    lw_sb_printf(&b,
                 "\n-- \nlienwatch. Every mail about alert %" PRId64
                 " carries Message-ID %s;\na repeated copy (after a "
                 "restart) is the same mail.\n",
                 alert_id, out->message_id ? out->message_id : "");
    body = lw_sb_take(&b);
    if (!body || !out->message_id || !out->subject) {
        free(body);
        lw_mail_release(out);
        return LW_ERR_NOMEM;
    }
    snprintf(idbuf, sizeof(idbuf), "%" PRId64 " %s", alert_id, kind);
    e = finish_message(env, out->subject, out->message_id, "X-Lienwatch-Alert",
                       idbuf, body, out);
    free(body);
    if (e != LW_OK)
        lw_mail_release(out);
    return e;
}

/* Appends title, then each line of text, under a digest entry. */
static void put_indented(struct lw_sb *b, const char *title, const char *text)
{
    const char *p = text;

    lw_sb_printf(b, DIGEST_INDENT " %s\n", title);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        lw_sb_printf(b, DIGEST_INDENT "%.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

enum lw_err lw_mail_compose_digest(const struct lw_mail_env *env,
                                   enum lw_alert_kind kind,
                                   const struct lw_digest_item *items, size_t n,
                                   int threshold, int64_t window_ms,
                                   struct lw_mail *out)
{
    const char *kname = lw_alert_kind_name(kind);
    char domain[LW_MIME_ADDR_MAX + 1], tbuf[LW_TIME_BUFLEN], t2[LW_TIME_BUFLEN];
    char dbuf[DUR_LEN], link[LINK_LEN], hdr[64];
    struct lw_sb b = {0}, s = {0}, m = {0};
    int64_t first_ms = INT64_MAX, last_ms = INT64_MIN;
    enum lw_err e;
    char *body;

    if (!out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!env_ok(env) || !items || n == 0)
        return LW_ERR_INVAL;
    if (from_domain(env->from, domain, sizeof(domain)) != LW_OK)
        return LW_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].a)
            return LW_ERR_INVAL;
        if (items[i].a->raised_ms < first_ms)
            first_ms = items[i].a->raised_ms;
        if (items[i].a->raised_ms > last_ms)
            last_ms = items[i].a->raised_ms;
    }

    lw_sb_printf(&m, "<digest-%" PRId64 ".%s@%s>", items[0].alert_id,
                 env->instance, domain);
    out->message_id = lw_sb_take(&m);
    lw_sb_printf(&s,
                 "[lienwatch] storm digest: %zu %s alert%s - shared cause "
                 "likely",
                 n, kname, n == 1 ? "" : "s");
    out->subject = lw_sb_take(&s);

    lw_sb_printf(&b, "lienwatch storm digest: %zu %s alert%s\n\n", n, kname,
                 n == 1 ? "" : "s");
    lw_sb_printf(&b,
                 "More than %d %s alerts were raised within %s. That many at "
                 "once most\nlikely have a shared cause - a mobile network or "
                 "tracker platform outage,\na problem with the MQTT broker or "
                 "this server - rather than separate\nincidents. Check for a "
                 "shared cause first, then follow up the vehicles whose\n"
                 "alerts stay open (lienwatch alerts --open).\n\n"
                 "While the storm lasts, %s alerts past the threshold are "
                 "not mailed one by\none: they are collected into digests "
                 "like this one. Every alert is in\nexactly one mail.\n",
                 threshold, kname, dur(window_ms, dbuf), kname);
    heading(&b, "What to do for each vehicle");
    lw_sb_printf(&b, "%s\n", kind_text(kind)->advice);
    {
        struct lw_sb h = {0};
        char *t;
        lw_sb_printf(&h, "Alerts (%zu), raised from %s to %s", n,
                     lw_time_format(first_ms, tbuf, sizeof(tbuf)),
                     lw_time_format(last_ms, t2, sizeof(t2)));
        t = lw_sb_take(&h);
        heading(&b, t ? t : "Alerts");
        free(t);
    }
    for (size_t i = 0; i < n; i++) {
        const struct lw_digest_item *it = &items[i];
        const struct lw_alert *a = it->a;
        const struct lw_vehicle *v = it->v;

        lw_sb_printf(&b, "#%-6" PRId64 " %s  device %s", it->alert_id,
                     lw_time_format(a->raised_ms, tbuf, sizeof(tbuf)),
                     a->device);
        if (a->fence[0])
            lw_sb_printf(&b, "  geofence \"%s\"", a->fence);
        lw_sb_printf(&b, "\n" DIGEST_INDENT " plate %s, VIN %s",
                     or_unknown(v ? v->plate : NULL),
                     or_unknown(v ? v->vin : NULL));
        if (v && v->description[0])
            lw_sb_printf(&b, ", %s", v->description);
        lw_sb_printf(&b, "\n" DIGEST_INDENT " account %s",
                     or_unknown(v ? v->account : NULL));
        if (it->acct)
            lw_sb_printf(&b, ", %d days past due", it->acct->days_past_due);
        if (a->kind == LW_ALERT_OFFLINE || a->kind == LW_ALERT_BACK_ONLINE)
            lw_sb_printf(&b, ", silent %s", dur(a->gap_ms, dbuf));
        lw_sb_putc(&b, '\n');
        if (a->has_fix) {
            lw_sb_printf(
                &b, DIGEST_INDENT " %s at %s: %s\n",
                a->kind == LW_ALERT_OFFLINE ? "last fix" : "fix",
                lw_time_format(a->fix.fix_time_ms, tbuf, sizeof(tbuf)),
                lw_osm_url(a->fix.lat_deg, a->fix.lon_deg, link, sizeof(link)));
        } else {
            lw_sb_puts(&b, DIGEST_INDENT " no position known\n");
        }
        if (a->kind == LW_ALERT_OFFLINE && it->places && it->places[0])
            put_indented(&b, "usually parks:", it->places);
    }
    lw_sb_printf(&b, "\n-- \nlienwatch. This digest carries Message-ID %s.\n",
                 out->message_id ? out->message_id : "");
    body = lw_sb_take(&b);
    if (!body || !out->message_id || !out->subject) {
        free(body);
        lw_mail_release(out);
        return LW_ERR_NOMEM;
    }
    snprintf(hdr, sizeof(hdr), "%s %zu", kname, n);
    e = finish_message(env, out->subject, out->message_id, "X-Lienwatch-Digest",
                       hdr, body, out);
    free(body);
    if (e != LW_OK)
        lw_mail_release(out);
    return e;
}

/* ---- settings ---------------------------------------------------------------
 */

void lw_outbox_opts_from_config(struct lw_outbox_opts *o,
                                const struct lw_config *c)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    if (!c)
        return;
    o->enabled = c->smtp_url[0] != '\0';
    o->from = c->smtp_from;
    o->to = c->smtp_to;
    o->route[LW_ALERT_GEOFENCE_EXIT] = c->smtp_route_geofence_exit;
    o->route[LW_ALERT_GEOFENCE_ENTER] = c->smtp_route_geofence_enter;
    o->route[LW_ALERT_DWELL] = c->smtp_route_dwell;
    o->route[LW_ALERT_OFFLINE] = c->smtp_route_offline;
    o->route[LW_ALERT_BACK_ONLINE] = c->smtp_route_back_online;
    o->route[LW_ALERT_POWER_CUT] = c->smtp_route_power_cut;
    o->route[LW_ALERT_TOW] = c->smtp_route_tow;
    o->route[LW_ALERT_LOW_BATTERY] = c->smtp_route_low_battery;
    o->digest_threshold = c->smtp_digest_threshold;
    o->digest_window_s = c->smtp_digest_window_s;
    o->digest_delay_s = c->smtp_digest_delay_s;
    o->retry_initial_s = c->smtp_retry_initial_s;
    o->retry_max_s = c->smtp_retry_max_s;
    o->max_age_ms = c->smtp_max_age_ms;
    o->places_zone = c->places_timezone;
}

/* Adds one stored fix to a places history (an lw_fix_cb); stops when out
 * of memory. */
static int places_add(void *ctx, const struct lw_fix *f)
{
    return lw_places_add(ctx, f) == LW_OK ? 0 : 1;
}

/* The local hours of p with a share of at least one half, "19-07,12-13";
 * "" when none. */
static void usual_hours(const struct lw_place *p, char *buf, size_t len)
{
    size_t used = 0;
    int h0 = 0, start = -1;

    buf[0] = '\0';
    while (h0 < 24 && p->usual_hours[h0] >= 0.5f)
        h0++;
    if (h0 == 24) {
        snprintf(buf, len, "all day");
        return;
    }
    for (int i = 1; i <= 24; i++) {
        int k = (h0 + i) % 24;
        bool on = p->usual_hours[k] >= 0.5f;
        int n;

        if (on && start < 0)
            start = k;
        if (on || start < 0)
            continue;
        n = snprintf(buf + used, len - used, "%s%02d-%02d", used ? "," : "",
                     start, (k + 23) % 24);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
        start = -1;
    }
}

char *lw_outbox_places_format(const struct lw_places *pl,
                              const struct lw_tz *tz, int64_t ranked_ms,
                              bool now)
{
    struct lw_sb b = {0};
    char tbuf[LW_TIME_BUFLEN], hours[96], link[LINK_LEN], when[64];
    char *text;
    size_t n;

    if (!pl)
        return NULL;
    if (now)
        snprintf(when, sizeof(when), "now");
    else
        snprintf(when, sizeof(when), "at %s",
                 lw_time_format(ranked_ms, tbuf, sizeof(tbuf)));
    n = lw_places_count(pl);
    for (size_t i = 0; i < n && i < LW_OUTBOX_PLACES_TOP; i++) {
        const struct lw_place *p = lw_places_get(pl, i);

        usual_hours(p, hours, sizeof(hours));
        lw_sb_printf(&b,
                     "  %zu. %.6f, %.6f (within %.0f m): %u nights, %u "
                     "visits, last there %s\n",
                     i + 1, p->lat_deg, p->lon_deg, p->radius_m,
                     (unsigned)p->nights, (unsigned)p->visits,
                     lw_time_format(p->last_seen_ms, tbuf, sizeof(tbuf)));
        lw_sb_printf(&b,
                     "     usually there (%s): %s; likely there %s: %.0f%%\n",
                     lw_tz_name(tz), hours[0] ? hours : "no hour of the day",
                     when, p->likely_now * 100.0);
        lw_sb_printf(&b, "     %s\n",
                     lw_osm_url(p->lat_deg, p->lon_deg, link, sizeof(link)));
    }
    text = lw_sb_take(&b);
    if (text && !text[0]) {
        free(text);
        text = NULL;
    }
    return text;
}

char *lw_outbox_places_text(struct lw_store *s, const char *device,
                            const char *zone, int64_t now_ms)
{
    struct lw_places *pl = NULL;
    struct lw_tz *tz = NULL;
    char err[128];
    char *text = NULL;

    if (!s || !device)
        return NULL;
    if (lw_tz_load(zone, &tz, err, sizeof(err)) != LW_OK)
        tz = NULL; /* UTC */
    if (lw_places_new(NULL, &pl, err, sizeof(err)) == LW_OK &&
        lw_store_history(s, device,
                         now_ms - LW_OUTBOX_PLACES_DAYS * 86400 * INT64_C(1000),
                         now_ms, places_add, pl) == LW_OK &&
        lw_places_compute(pl, tz, now_ms, err, sizeof(err)) == LW_OK)
        text = lw_outbox_places_format(pl, tz, now_ms, true);
    lw_places_free(pl);
    lw_tz_free(tz);
    return text;
}

/* The addresses routed to kind besides o->to, "" when none. */
static const char *route_of(const struct lw_outbox_opts *o,
                            enum lw_alert_kind k)
{
    if ((unsigned)k >= LW_ALERT_KIND_COUNT_ || !o->route[k])
        return "";
    return o->route[k];
}

/* Appends the addresses of list to b unless already in it. */
static enum lw_err add_list(struct lw_sb *b, const char *list)
{
    char item[LW_CONFIG_STR_MAX + 1], addr[LW_MIME_ADDR_MAX + 1];
    const char *p = list;

    while (lw_mime_list_next(&p, item, sizeof(item))) {
        const char *q = b->p ? b->p : "";
        size_t n;
        bool dup = false;

        if (lw_mime_addr_spec(item, addr, sizeof(addr)) != LW_OK)
            return LW_ERR_CONFIG;
        n = strlen(addr);
        while (*q) {
            const char *comma = strchr(q, ',');
            size_t l = comma ? (size_t)(comma - q) : strlen(q);
            if (l == n && strncasecmp(q, addr, n) == 0)
                dup = true;
            q += l + (comma ? 1 : 0);
        }
        if (dup)
            continue;
        if (b->len)
            lw_sb_putc(b, ',');
        lw_sb_puts(b, addr);
    }
    return LW_OK;
}

char *lw_outbox_recipients(const struct lw_outbox_opts *o,
                           enum lw_alert_kind kind, enum lw_err *e)
{
    struct lw_sb b = {0};
    enum lw_err err;
    char *r;

    if (!o) {
        if (e)
            *e = LW_ERR_INVAL;
        return NULL;
    }
    err = add_list(&b, o->to ? o->to : "");
    if (err == LW_OK)
        err = add_list(&b, route_of(o, kind));
    if (err == LW_OK && b.len == 0)
        err = LW_ERR_CONFIG;
    if (err != LW_OK) {
        lw_sb_release(&b);
        if (e)
            *e = err;
        return NULL;
    }
    r = lw_sb_take(&b);
    if (e)
        *e = r ? LW_OK : LW_ERR_NOMEM;
    return r;
}

int64_t lw_outbox_backoff_ms(const struct lw_outbox_opts *o, int attempts)
{
    int64_t d = (int64_t)o->retry_initial_s * MS_PER_S;
    int64_t max = (int64_t)o->retry_max_s * MS_PER_S;

    for (int i = 1; i < attempts && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

bool lw_outbox_expired(const struct lw_outbox_opts *o,
                       const struct lw_outbox_row *r, int64_t now_ms)
{
    return r->state == LW_OUTBOX_PENDING &&
           now_ms - r->created_ms >= o->max_age_ms;
}

/* ---- SQL helpers ------------------------------------------------------------
 */

/* Runs st once and ends its use; failures say "outbox: <what>". */
static enum lw_err run(struct lw_db *db, sqlite3_stmt *st, const char *what)
{
    char w[96];

    snprintf(w, sizeof(w), "outbox: %s", what);
    return lw_db_run(db, st, w);
}

/* Name of the outbox's savepoint (lw_db_savepoint). */
#define SAVEPOINT "lw_outbox"

/* Decodes a one-integer row into the int64_t at out. */
static void row_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* The database's tag for Message-IDs ("00000000" when the meta row is
 * missing or cannot be read: a mail is better sent with a weaker id than
 * not at all). */
static void instance_tag(struct lw_store *s, char *buf, size_t len)
{
    struct lw_db *db = lw_store_db(s);
    int64_t v = 0;
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(
        db, "SELECT value FROM meta WHERE key = 'mail_instance'", &e);

    if (st)
        (void)lw_db_get_row(db, st, row_int64, &v,
                            "outbox: reading the mail tag");
    snprintf(buf, len, "%08llx", (unsigned long long)v & 0xffffffffULL);
}

/* Queues mail m to every recipient of the list (one row each). */
static enum lw_err insert_mail(struct lw_store *s, const char *kind,
                               bool digest, int64_t alert_id,
                               const char *alert_ids, int nalerts,
                               const char *device, const char *recipients,
                               const struct lw_mail *m, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    const char *p = recipients;
    char addr[LW_MIME_ADDR_MAX + 1];
    enum lw_err e = LW_OK;

    while (e == LW_OK && lw_mime_list_next(&p, addr, sizeof(addr))) {
        sqlite3_stmt *st = lw_db_stmt(
            db,
            "INSERT INTO outbox(kind, digest, alert_id, alert_ids, "
            "nalerts, device, recipient, message_id, subject, message, "
            "next_try_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
            "?8, ?9, ?10, ?11, ?11) "
            "ON CONFLICT(message_id, recipient) DO NOTHING",
            &e);
        if (!st)
            return e;
        lw_db_bind_text(db, st, 1, kind);
        lw_db_bind_int(db, st, 2, digest);
        lw_db_bind_int64(db, st, 3, alert_id);
        lw_db_bind_text(db, st, 4, alert_ids);
        lw_db_bind_int(db, st, 5, nalerts);
        lw_db_bind_text(db, st, 6, device);
        lw_db_bind_text(db, st, 7, addr);
        lw_db_bind_text(db, st, 8, m->message_id);
        lw_db_bind_text(db, st, 9, m->subject);
        lw_db_bind_text(db, st, 10, m->message);
        lw_db_bind_int64(db, st, 11, now_ms);
        e = run(db, st, "queueing a mail");
    }
    return e;
}

/* Vehicle and account of device; *hv / *ha say whether found. */
static void lookup(struct lw_store *s, const char *device, struct lw_vehicle *v,
                   bool *hv, struct lw_account *acct, bool *ha)
{
    *hv = lw_registry_vehicle_get(s, device, v) == LW_OK;
    *ha = *hv && v->account[0] &&
          lw_registry_account_get(s, v->account, acct) == LW_OK;
}

/* ---- enqueue ------------------------------------------------------------- */

/* Alerts of kind raised after since_ms. */
static enum lw_err recent_count(struct lw_store *s, const char *kind,
                                int64_t since_ms, int64_t *n)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db,
                                  "SELECT count(*) FROM alerts WHERE "
                                  "kind = ?1 AND raised_ms > ?2",
                                  &e);

    *n = 0;
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, kind);
    lw_db_bind_int64(db, st, 2, since_ms);
    e = lw_db_get_row(db, st, row_int64, n, "outbox: counting recent alerts");
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

static enum lw_err hold(struct lw_store *s, const struct lw_outbox_opts *o,
                        int64_t alert_id, const struct lw_alert *a,
                        int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st =
        lw_db_stmt(db,
                   "INSERT INTO outbox_held(alert_id, kind, device, held_ms, "
                   "due_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT(alert_id) DO NOTHING",
                   &e);

    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, alert_id);
    lw_db_bind_text(db, st, 2, lw_alert_kind_name(a->kind));
    lw_db_bind_text(db, st, 3, a->device);
    lw_db_bind_int64(db, st, 4, now_ms);
    lw_db_bind_int64(db, st, 5, now_ms + (int64_t)o->digest_delay_s * MS_PER_S);
    return run(db, st, "holding an alert for a digest");
}

/* places: the offline mail's places text; given false: read them here. */
static enum lw_err queue_single(struct lw_store *s,
                                const struct lw_outbox_opts *o,
                                int64_t alert_id, const struct lw_alert *a,
                                const char *given_places, bool given,
                                int64_t now_ms)
{
    struct lw_vehicle v;
    struct lw_account acct;
    struct lw_mail m;
    struct lw_mail_env env;
    char inst[INSTANCE_LEN];
    char *places = NULL;
    bool hv, ha;
    enum lw_err e;
    char *rcpt = lw_outbox_recipients(o, a->kind, &e);

    if (!rcpt)
        return e;
    lookup(s, a->device, &v, &hv, &acct, &ha);
    instance_tag(s, inst, sizeof(inst));
    if (a->kind == LW_ALERT_OFFLINE && !given)
        places = lw_outbox_places_text(s, a->device, o->places_zone, now_ms);
    env = (struct lw_mail_env){o->from, rcpt, inst, now_ms,
                               given ? given_places : places};
    e = lw_mail_compose_alert(&env, alert_id, a, hv ? &v : NULL,
                              ha ? &acct : NULL, &m);
    free(places);
    if (e == LW_OK)
        e = insert_mail(s, lw_alert_kind_name(a->kind), false, alert_id, "", 1,
                        a->device, rcpt, &m, now_ms);
    lw_mail_release(&m);
    free(rcpt);
    return e;
}

static enum lw_err enqueue(struct lw_store *s, const struct lw_outbox_opts *o,
                           int64_t alert_id, const struct lw_alert *a,
                           const char *places, bool given, int64_t now_ms,
                           bool *held);

enum lw_err lw_outbox_enqueue(struct lw_store *s,
                              const struct lw_outbox_opts *o, int64_t alert_id,
                              const struct lw_alert *a, int64_t now_ms,
                              bool *held)
{
    return enqueue(s, o, alert_id, a, NULL, false, now_ms, held);
}

enum lw_err lw_outbox_enqueue_places(struct lw_store *s,
                                     const struct lw_outbox_opts *o,
                                     int64_t alert_id, const struct lw_alert *a,
                                     const char *places, int64_t now_ms,
                                     bool *held)
{
    return enqueue(s, o, alert_id, a, places, true, now_ms, held);
}

static enum lw_err enqueue(struct lw_store *s, const struct lw_outbox_opts *o,
                           int64_t alert_id, const struct lw_alert *a,
                           const char *places, bool given, int64_t now_ms,
                           bool *held)
{
    struct lw_db *db = lw_store_db(s);
    int64_t recent = 0;
    enum lw_err e;

    if (held)
        *held = false;
    if (!s || !o || !a || !a->device[0])
        return LW_ERR_INVAL;
    if (!o->enabled)
        return LW_OK;
    e = lw_db_savepoint(db, SAVEPOINT);
    if (e != LW_OK)
        return e;
    e = recent_count(s, lw_alert_kind_name(a->kind),
                     now_ms - (int64_t)o->digest_window_s * MS_PER_S, &recent);
    if (e == LW_OK && recent > o->digest_threshold) {
        e = hold(s, o, alert_id, a, now_ms);
        if (e == LW_OK && held)
            *held = true;
    } else if (e == LW_OK) {
        e = queue_single(s, o, alert_id, a, places, given, now_ms);
    }
    return lw_db_savepoint_end(db, SAVEPOINT, e);
}

/* ---- digests ------------------------------------------------------------- */

/* Everything one digest needs, allocated together. */
struct digest_batch {
    struct lw_alert_row *rows;    /* the alerts */
    struct lw_vehicle *veh;       /* their vehicles */
    struct lw_account *acc;       /* their accounts */
    struct lw_digest_item *items; /* pointers into the above */
    size_t n;                     /* used */
};

static void batch_free(struct digest_batch *d)
{
    free(d->rows);
    free(d->veh);
    free(d->acc);
    free(d->items);
}

static enum lw_err batch_alloc(struct digest_batch *d)
{
    memset(d, 0, sizeof(*d));
    d->rows = calloc(LW_OUTBOX_DIGEST_MAX, sizeof(*d->rows));
    d->veh = calloc(LW_OUTBOX_DIGEST_MAX, sizeof(*d->veh));
    d->acc = calloc(LW_OUTBOX_DIGEST_MAX, sizeof(*d->acc));
    d->items = calloc(LW_OUTBOX_DIGEST_MAX, sizeof(*d->items));
    if (!d->rows || !d->veh || !d->acc || !d->items) {
        batch_free(d);
        return LW_ERR_NOMEM;
    }
    return LW_OK;
}

/* Adds a held alert (alert_id, device) to the digest_batch at ctx. */
static int visit_held_id(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct digest_batch *d = ctx;
    struct lw_alert_row *r = &d->rows[d->n];

    (void)cbp;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, r->a.device, sizeof(r->a.device));
    d->n++;
    return d->n == LW_OUTBOX_DIGEST_MAX;
}

/* Reads up to LW_OUTBOX_DIGEST_MAX held alerts of kind (lowest ids). */
static enum lw_err batch_read(struct lw_store *s, const char *kind,
                              struct digest_batch *d)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db,
                                  "SELECT alert_id, device FROM outbox_held "
                                  "WHERE kind = ?1 ORDER BY alert_id LIMIT ?2",
                                  &e);

    d->n = 0;
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, kind);
    lw_db_bind_int(db, st, 2, LW_OUTBOX_DIGEST_MAX);
    e = lw_db_each_row(db, st, visit_held_id, NULL, d,
                       "outbox: reading held alerts");
    if (e != LW_OK)
        return e;
    /* the alerts themselves, with their vehicles and accounts */
    for (size_t i = 0; i < d->n; i++) {
        struct lw_alert_row *r = &d->rows[i];
        bool hv, ha;
        if (lw_registry_alert_get(s, r->id, r) != LW_OK) {
            /* gone from alerts (should not happen): list what we know */
            char device[LW_DEVICE_MAX + 1];
            int64_t id = r->id;
            lw_copy(device, sizeof(device), r->a.device);
            memset(r, 0, sizeof(*r));
            r->id = id;
            lw_copy(r->a.device, sizeof(r->a.device), device);
            lw_alert_kind_parse(kind, &r->a.kind);
        }
        lookup(s, r->a.device, &d->veh[i], &hv, &d->acc[i], &ha);
        d->items[i] = (struct lw_digest_item){
            r->id, &r->a, hv ? &d->veh[i] : NULL, ha ? &d->acc[i] : NULL, NULL};
    }
    return LW_OK;
}

/* Composes and queues one digest of the batch, drops its held rows. */
static enum lw_err batch_queue(struct lw_store *s,
                               const struct lw_outbox_opts *o, const char *kind,
                               struct digest_batch *d, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_alert_kind k = 0;
    struct lw_mail m;
    struct lw_mail_env env;
    struct lw_sb ids = {0};
    char inst[INSTANCE_LEN];
    char *rcpt, *idlist;
    sqlite3_stmt *st;
    enum lw_err e;

    lw_alert_kind_parse(kind, &k);
    rcpt = lw_outbox_recipients(o, k, &e);
    if (!rcpt)
        return e;
    for (size_t i = 0; i < d->n; i++)
        lw_sb_printf(&ids, "%s%" PRId64, i ? "," : "", d->rows[i].id);
    idlist = lw_sb_take(&ids);
    instance_tag(s, inst, sizeof(inst));
    env = (struct lw_mail_env){o->from, rcpt, inst, now_ms, NULL};
    /* the offline alerts name where their vehicles usually park, as the
     * single mail does, from what the caller keeps (no history read) */
    for (size_t i = 0; i < d->n; i++)
        d->items[i].places =
            k == LW_ALERT_OFFLINE && o->places_of
                ? o->places_of(o->places_ctx, d->rows[i].a.device)
                : NULL;
    e = idlist
            ? lw_mail_compose_digest(&env, k, d->items, d->n,
                                     o->digest_threshold,
                                     (int64_t)o->digest_window_s * MS_PER_S, &m)
            : LW_ERR_NOMEM;
    if (e == LW_OK) {
        e = insert_mail(s, kind, true, d->rows[0].id, idlist, (int)d->n, "",
                        rcpt, &m, now_ms);
        lw_mail_release(&m);
    }
    free(idlist);
    free(rcpt);
    if (e != LW_OK)
        return e;
    st = lw_db_stmt(
        db, "DELETE FROM outbox_held WHERE kind = ?1 AND alert_id <= ?2", &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, kind);
    lw_db_bind_int64(db, st, 2, d->rows[d->n - 1].id);
    return run(db, st, "dropping digested alerts");
}

/* Kinds with held alerts and the due time of each. */
struct due_kind {
    char kind[LW_OUTBOX_KIND_LEN]; /* alert kind */
    int64_t due_ms;                /* its digest is due */
};

/* Room for the kinds of held alerts (a few more than there are kinds, for
 * a database written by a newer lienwatch). */
#define DUE_KINDS_MAX (LW_ALERT_KIND_COUNT_ + 4)

struct due_kinds {
    struct due_kind k[DUE_KINDS_MAX]; /* the kinds read */
    size_t n;                         /* used entries */
};

/* Adds a (kind, due) row to the due_kinds at ctx; stops when full. */
static int visit_due_kind(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct due_kinds *dk = ctx;

    (void)cbp;
    lw_db_col_copy(st, 0, dk->k[dk->n].kind, sizeof(dk->k[dk->n].kind));
    dk->k[dk->n].due_ms = sqlite3_column_int64(st, 1);
    dk->n++;
    return dk->n == DUE_KINDS_MAX;
}

enum lw_err lw_outbox_digest_run(struct lw_store *s,
                                 const struct lw_outbox_opts *o, int64_t now_ms,
                                 int *made, int64_t *next_ms)
{
    struct lw_db *db = lw_store_db(s);
    struct due_kinds dk = {0};
    struct due_kind *kinds = dk.k;
    struct digest_batch d = {0};
    bool have_batch = false;
    sqlite3_stmt *st;
    enum lw_err e;

    if (made)
        *made = 0;
    if (next_ms)
        *next_ms = INT64_MAX;
    if (!s || !o)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT kind, min(due_ms) FROM outbox_held GROUP BY kind "
                    "ORDER BY kind",
                    &e);
    if (!st)
        return e;
    e = lw_db_each_row(db, st, visit_due_kind, NULL, &dk,
                       "outbox: reading held alerts");
    if (e != LW_OK)
        return e;

    e = lw_db_savepoint(db, SAVEPOINT);
    if (e != LW_OK)
        return e;
    for (size_t i = 0; i < dk.n && e == LW_OK; i++) {
        if (kinds[i].due_ms > now_ms) {
            if (next_ms && kinds[i].due_ms < *next_ms)
                *next_ms = kinds[i].due_ms;
            continue;
        }
        if (!have_batch) {
            e = batch_alloc(&d);
            if (e != LW_OK)
                break;
            have_batch = true;
        }
        /* a storm larger than one digest makes several, at once */
        do {
            e = batch_read(s, kinds[i].kind, &d);
            if (e == LW_OK && d.n > 0) {
                e = batch_queue(s, o, kinds[i].kind, &d, now_ms);
                if (e == LW_OK && made)
                    (*made)++;
            }
        } while (e == LW_OK && d.n == LW_OUTBOX_DIGEST_MAX);
    }
    if (have_batch)
        batch_free(&d);
    e = lw_db_savepoint_end(db, SAVEPOINT, e);
    if (e != LW_OK) {
        if (made)
            *made = 0;
    }
    return e;
}

/* ---- reading rows
 * ------------------------------------------------------------ */

#define OUTBOX_COLS                                                            \
    "id, digest, alert_id, alert_ids, nalerts, kind, device, recipient, "      \
    "message_id, subject, message, state, attempts, next_try_ms, "             \
    "last_error, created_ms, sent_ms, failed_ms, notified"

static void row_from(sqlite3_stmt *st, struct lw_outbox_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->digest = sqlite3_column_int(st, 1) != 0;
    r->alert_id = sqlite3_column_int64(st, 2);
    r->alert_ids = lw_db_col_str(st, 3);
    r->nalerts = sqlite3_column_int(st, 4);
    lw_db_col_copy(st, 5, r->kind, sizeof(r->kind));
    r->device = lw_db_col_str(st, 6);
    r->recipient = lw_db_col_str(st, 7);
    r->message_id = lw_db_col_str(st, 8);
    r->subject = lw_db_col_str(st, 9);
    r->message = lw_db_col_str(st, 10);
    if (lw_outbox_state_parse(lw_db_col_str(st, 11), &r->state) != LW_OK)
        r->state = LW_OUTBOX_PENDING;
    r->attempts = sqlite3_column_int(st, 12);
    r->next_try_ms = sqlite3_column_int64(st, 13);
    r->last_error = lw_db_col_str(st, 14);
    r->created_ms = sqlite3_column_int64(st, 15);
    r->sent_ms = sqlite3_column_int64(st, 16);
    r->failed_ms = sqlite3_column_int64(st, 17);
    r->notified = sqlite3_column_int(st, 18) != 0;
}

/* Hands an outbox row to the lw_outbox_cb at cbp. */
static int visit_outbox_row(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_outbox_cb *cb = cbp;
    struct lw_outbox_row r;

    row_from(st, &r);
    return (*cb)(ctx, &r);
}

/* Runs the listing st, calling cb per row until it returns non-zero. */
static enum lw_err each_outbox_row(struct lw_db *db, sqlite3_stmt *st,
                                   lw_outbox_cb cb, void *ctx, const char *what)
{
    char w[96];

    snprintf(w, sizeof(w), "outbox: %s", what);
    return lw_db_each_row(db, st, visit_outbox_row, &cb, ctx, w);
}

/* Decodes min(next_try_ms) into the int64_t at out, unchanged for NULL
 * (no pending row). */
static void row_next_due(sqlite3_stmt *st, void *out)
{
    if (sqlite3_column_type(st, 0) != SQLITE_NULL)
        *(int64_t *)out = sqlite3_column_int64(st, 0);
}

enum lw_err lw_outbox_next_due(struct lw_store *s, int64_t *next_ms)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !next_ms)
        return LW_ERR_INVAL;
    *next_ms = INT64_MAX;
    st = lw_db_stmt(db,
                    "SELECT min(next_try_ms) FROM outbox "
                    "WHERE state = 'pending'",
                    &e);
    if (!st)
        return e;
    e = lw_db_get_row(db, st, row_next_due, next_ms,
                      "outbox: finding the next due mail");
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

enum lw_err lw_outbox_due(struct lw_store *s, int64_t now_ms, int limit,
                          lw_outbox_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st =
        lw_db_stmt(db,
                   "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 'pending' "
                   "AND next_try_ms <= ?1 ORDER BY next_try_ms, id LIMIT ?2",
                   &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, now_ms);
    lw_db_bind_int(db, st, 2, limit > 0 ? limit : -1);
    return each_outbox_row(db, st, cb, ctx, "reading due mail");
}

/* cb of lw_outbox_get: notes that the row exists. */
struct get_ctx {
    lw_outbox_cb cb; /* the caller's */
    void *ctx;       /* its context */
    bool found;      /* a row was seen */
};

static int get_one(void *ctx, const struct lw_outbox_row *r)
{
    struct get_ctx *g = ctx;

    g->found = true;
    g->cb(g->ctx, r);
    return 1;
}

enum lw_err lw_outbox_get(struct lw_store *s, int64_t id, lw_outbox_cb cb,
                          void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    struct get_ctx g = {cb, ctx, false};
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    e = each_outbox_row(db, st, get_one, &g, "reading a mail");
    if (e == LW_OK && !g.found) {
        lw_db_seterr(db, "no mail %" PRId64 " in the outbox", id);
        return LW_ERR_NOTFOUND;
    }
    return e;
}

enum lw_err lw_outbox_list(struct lw_store *s, const struct lw_outbox_filter *f,
                           lw_outbox_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    static const struct lw_outbox_filter all = {0};
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &all;
    st = lw_db_stmt(db,
                    "SELECT * FROM (SELECT " OUTBOX_COLS " FROM outbox WHERE "
                    "(?1 IS NULL OR state = ?1) AND "
                    "(?2 = 0 OR (state = 'failed' AND notified = 0)) "
                    "ORDER BY id DESC LIMIT ?3) ORDER BY id",
                    &e);
    if (!st)
        return e;
    if (f->state)
        lw_db_bind_text(db, st, 1, lw_outbox_state_name(f->state));
    lw_db_bind_int(db, st, 2, f->unnotified_failed);
    lw_db_bind_int(db, st, 3, f->limit > 0 ? f->limit : -1);
    return each_outbox_row(db, st, cb, ctx, "listing the outbox");
}

/* Hands a held alert to the lw_outbox_held_cb at cbp. */
static int visit_held(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_outbox_held_cb *cb = cbp;
    struct lw_outbox_held h;

    memset(&h, 0, sizeof(h));
    h.alert_id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, h.kind, sizeof(h.kind));
    lw_db_col_copy(st, 2, h.device, sizeof(h.device));
    h.held_ms = sqlite3_column_int64(st, 3);
    h.due_ms = sqlite3_column_int64(st, 4);
    return (*cb)(ctx, &h);
}

enum lw_err lw_outbox_held_list(struct lw_store *s, lw_outbox_held_cb cb,
                                void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT alert_id, kind, device, held_ms, "
                    "min(due_ms) OVER (PARTITION BY kind) FROM outbox_held "
                    "ORDER BY alert_id",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_held, &cb, ctx,
                          "outbox: listing held alerts");
}

/* ---- state changes --------------------------------------------------------
 */

/* Runs st (an UPDATE of one row by id) and says NOTFOUND when none matched. */
static enum lw_err update_one(struct lw_store *s, sqlite3_stmt *st, int64_t id,
                              const char *what)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e = run(db, st, what);

    if (e == LW_OK && lw_db_changes(db) == 0) {
        lw_db_seterr(db, "outbox: %s: no pending mail %" PRId64, what, id);
        return LW_ERR_NOTFOUND;
    }
    return e;
}

enum lw_err lw_outbox_mark_sent(struct lw_store *s, int64_t id, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "UPDATE outbox SET state = 'sent', sent_ms = ?2, "
                    "attempts = attempts + 1, last_error = '' "
                    "WHERE id = ?1 AND state = 'pending'",
                    &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, now_ms);
    return update_one(s, st, id, "marking a mail sent");
}

enum lw_err lw_outbox_mark_failed(struct lw_store *s, int64_t id,
                                  int64_t now_ms, bool count_attempt,
                                  const char *error)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "UPDATE outbox SET state = 'failed', failed_ms = ?2, "
                    "attempts = attempts + ?3, last_error = ?4 "
                    "WHERE id = ?1 AND state = 'pending'",
                    &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, now_ms);
    lw_db_bind_int(db, st, 3, count_attempt ? 1 : 0);
    lw_db_bind_text(db, st, 4, error ? error : "");
    return update_one(s, st, id, "marking a mail failed");
}

/* cb for mark_retry: copies what it needs of the row. */
struct retry_ctx {
    bool pending;       /* the row is pending */
    int attempts;       /* its attempts */
    int64_t created_ms; /* its creation */
};

static int note_row(void *ctx, const struct lw_outbox_row *r)
{
    struct retry_ctx *rc = ctx;

    rc->pending = r->state == LW_OUTBOX_PENDING;
    rc->attempts = r->attempts;
    rc->created_ms = r->created_ms;
    return 0;
}

enum lw_err lw_outbox_mark_retry(struct lw_store *s,
                                 const struct lw_outbox_opts *o, int64_t id,
                                 int64_t now_ms, const char *error,
                                 enum lw_outbox_state *state,
                                 int64_t *next_try_ms)
{
    struct lw_db *db = lw_store_db(s);
    struct retry_ctx rc = {0};
    sqlite3_stmt *st;
    int64_t next, limit;
    enum lw_err e;

    if (!s || !o)
        return LW_ERR_INVAL;
    e = lw_db_savepoint(db, SAVEPOINT);
    if (e != LW_OK)
        return e;
    e = lw_outbox_get(s, id, note_row, &rc);
    if (e == LW_OK && !rc.pending) {
        lw_db_seterr(db, "outbox: mail %" PRId64 " is not pending", id);
        e = LW_ERR_NOTFOUND;
    }
    if (e != LW_OK)
        return lw_db_savepoint_end(db, SAVEPOINT, e);
    limit = rc.created_ms + o->max_age_ms;
    if (now_ms >= limit) {
        struct lw_sb msg = {0};
        char dbuf[DUR_LEN], *t;
        lw_sb_printf(&msg, "%s; not delivered within max_age (%s)",
                     error ? error : "", dur(o->max_age_ms, dbuf));
        t = lw_sb_take(&msg);
        e = lw_outbox_mark_failed(s, id, now_ms, true, t ? t : error);
        free(t);
        if (state)
            *state = LW_OUTBOX_FAILED;
        if (next_try_ms)
            *next_try_ms = 0;
        return lw_db_savepoint_end(db, SAVEPOINT, e);
    }
    next = now_ms + lw_outbox_backoff_ms(o, rc.attempts + 1);
    if (next > limit)
        next = limit;
    st = lw_db_stmt(db,
                    "UPDATE outbox SET attempts = attempts + 1, "
                    "next_try_ms = ?2, last_error = ?3 "
                    "WHERE id = ?1 AND state = 'pending'",
                    &e);
    if (!st)
        return lw_db_savepoint_end(db, SAVEPOINT, e);
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, next);
    lw_db_bind_text(db, st, 3, error ? error : "");
    e = update_one(s, st, id, "scheduling a retry");
    if (state)
        *state = LW_OUTBOX_PENDING;
    if (next_try_ms)
        *next_try_ms = next;
    return lw_db_savepoint_end(db, SAVEPOINT, e);
}

enum lw_err lw_outbox_mark_notified(struct lw_store *s, int64_t id)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, "UPDATE outbox SET notified = 1 WHERE id = ?1", &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    return run(db, st, "marking a failure published");
}

/* The four counts of lw_outbox_counts. */
struct counts {
    int64_t n[4]; /* pending, sent, failed, held */
};

static void row_counts(sqlite3_stmt *st, void *out)
{
    struct counts *c = out;

    for (int i = 0; i < 4; i++)
        c->n[i] = sqlite3_column_int64(st, i);
}

enum lw_err lw_outbox_counts(struct lw_store *s, int64_t *pending,
                             int64_t *sent, int64_t *failed, int64_t *held)
{
    struct lw_db *db = lw_store_db(s);
    struct counts c = {{0}};
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT (SELECT count(*) FROM outbox WHERE state = "
                    "'pending'), (SELECT count(*) FROM outbox WHERE state = "
                    "'sent'), (SELECT count(*) FROM outbox WHERE state = "
                    "'failed'), (SELECT count(*) FROM outbox_held)",
                    &e);
    if (!st)
        return e;
    e = lw_db_get_row(db, st, row_counts, &c, "outbox: counting mail");
    if (e != LW_OK)
        return e == LW_ERR_NOTFOUND ? LW_ERR_DB : e;
    if (pending)
        *pending = c.n[0];
    if (sent)
        *sent = c.n[1];
    if (failed)
        *failed = c.n[2];
    if (held)
        *held = c.n[3];
    return LW_OK;
}
