/*
 * commands.c - see commands.h.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lienwatch/audit.h"
#include "lienwatch/cases.h"
#include "lienwatch/commands.h"
#include "runtime/clock.h"

/* Commands published per tick at most (the rest at the next one). */
#define BATCH_MAX 64
/* QoS of a command: the broker acknowledges it; not retained (a device
 * that connects later must not act on an old request). */
#define CMD_QOS 1
/* Failures: at most one log line per this many ms. */
#define ERR_LOG_INTERVAL_MS 60000
/* A command still queued this long after it was asked for is not sent
 * (lienwatchd or the broker was away): the asker has moved on. */
#define QUEUED_MAX_MS (10LL * 60 * 1000)
/* A sent command unanswered for this long is given up on. */
#define GIVE_UP_MS (24LL * 3600 * 1000)
#define HOURLY_S 3600.0

/* Who the daemon's case endings are recorded as. */
static const struct lw_audit_rec DAEMON_BY = {.who = "lienwatchd",
                                              .via = "daemon"};

/* Logs a database failure of what, rate-limited. */
static void db_failed(struct lwd_commands *c, const char *what)
{
    struct lwrt_limit_note note;

    if (lwrt_limit_allow(&c->err_limit, lwrt_wall_ms(), ERR_LOG_INTERVAL_MS,
                         &note))
        lwrt_log(LOG_WARNING, "commands: %s: %s%s; retried", what,
                 lw_store_errmsg(c->store),
                 note.suppressed ? " (and earlier failures)" : "");
}

/* Counts the sent, unanswered commands into c->sent_open. */
static void count_open(struct lwd_commands *c)
{
    int64_t n = 0;

    if (lw_cmd_outstanding(c->store, &n) == LW_OK)
        c->sent_open = n;
    else
        db_failed(c, "counting outstanding commands");
}

/* Queued commands collected by one listing. */
struct batch {
    struct lw_cmd cmd[BATCH_MAX]; /* copies */
    int n;                        /* used */
};

static int collect(void *ctx, const struct lw_cmd *cmd)
{
    struct batch *b = ctx;

    b->cmd[b->n++] = *cmd;
    return b->n >= BATCH_MAX;
}

/* Publishes one command and records the outcome. False when it stays
 * queued (to try again). */
static bool send_one(struct lwd_commands *c, const struct lw_cmd *cmd)
{
    char topic[LW_CMD_TOPIC_MAX], payload[LW_CMD_PAYLOAD_MAX], why[160];
    int64_t now = lwrt_wall_ms();
    enum lw_err e;
    int rc;

    e = lw_cmd_route(cmd, c->cfg->topic_owntracks, c->cfg->topic_prefix, topic,
                     sizeof(topic), payload, sizeof(payload));
    if (e == LW_OK && now - cmd->created_ms > QUEUED_MAX_MS)
        e = LW_ERR_BUSY; /* stale, see QUEUED_MAX_MS */
    if (e != LW_OK) {
        snprintf(why, sizeof(why), "%s",
                 e == LW_ERR_BUSY    ? "not sent within 10 minutes of the "
                                       "request (lienwatchd or the broker "
                                       "was away)"
                 : e == LW_ERR_RANGE ? "the command topic is too long"
                                     : "no command topic for this device "
                                       "(not an OwnTracks or lw-gpsbridge "
                                       "device id)");
        if (lw_cmd_mark_failed(c->store, cmd->id, why, now) != LW_OK) {
            db_failed(c, "marking a command failed");
            return false;
        }
        c->failed++;
        lwrt_log(LOG_WARNING,
                 "command %lld (%s for %s, asked by %s) failed: %s",
                 (long long)cmd->id, lw_cmd_action_name(cmd->action),
                 cmd->device, cmd->requested_by, why);
        return true;
    }
    rc = lwd_mqtt_publish(c->link, topic, payload, strlen(payload), CMD_QOS,
                          false, NULL);
    if (rc != 0) {
        struct lwrt_limit_note note;

        if (lwrt_limit_allow(&c->err_limit, now, ERR_LOG_INTERVAL_MS, &note))
            lwrt_log(LOG_WARNING,
                     "command %lld: publishing on %s failed (code %d); "
                     "retried",
                     (long long)cmd->id, topic, rc);
        return false;
    }
    if (lw_cmd_mark_sent(c->store, cmd->id, now) != LW_OK) {
        /* published but not marked: it may go out twice, which a device
         * answers with one more fix */
        db_failed(c, "marking a command sent");
        return true;
    }
    c->published++;
    c->sent_open++;
    lwrt_log(LOG_INFO, "command %lld: %s for %s (asked by %s) published on %s",
             (long long)cmd->id, lw_cmd_action_name(cmd->action), cmd->device,
             cmd->requested_by, topic);
    return true;
}

/* Lists the queued commands and publishes them. */
static void send_queued(struct lwd_commands *c)
{
    struct batch b;
    enum lw_err e;

    b.n = 0;
    e = lw_cmd_pending(c->store, BATCH_MAX, collect, &b);
    if (e != LW_OK) {
        db_failed(c, "listing queued commands");
        return;
    }
    c->look = b.n == BATCH_MAX; /* more wait: the next tick */
    c->look_connects = c->link->connects;
    for (int i = 0; i < b.n; i++)
        if (!send_one(c, &b.cmd[i]))
            c->look = true; /* stays queued: the next tick tries again */
}

/* Marks the commands that stored fixes answered. */
static void answer(struct lwd_commands *c)
{
    int64_t n = 0;

    if (!c->answer_due || c->sent_open <= 0 || lw_store_in_txn(c->store))
        return;
    if (lw_cmd_answer(c->store, lwrt_wall_ms(), &n) != LW_OK) {
        db_failed(c, "marking commands answered");
        return;
    }
    c->answer_due = false;
    if (n > 0) {
        c->answered += (uint64_t)n;
        lwrt_log(LOG_INFO, "commands: %lld answered by a newer fix",
                 (long long)n);
        count_open(c);
    }
}

static void sweep_cases(struct lwd_commands *c)
{
    int64_t ended = 0;

    if (lw_case_sweep(c->store, c->cfg->watch_days_past_due, &DAEMON_BY,
                      lwrt_wall_ms(), &ended) != LW_OK) {
        db_failed(c, "ending cases");
        return;
    }
    c->sweep_due = false;
    c->swept_at = ev_now(c->loop);
    if (ended > 0)
        lwrt_log(LOG_INFO,
                 "cases: %lld ended (expired, or the account is no longer "
                 "watched)",
                 (long long)ended);
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwd_commands *c = w->data;
    int64_t dv = 0;
    double since;

    (void)loop;
    (void)revents;
    if (lw_store_in_txn(c->store))
        return; /* a commit is under way: the next tick */
    if (lw_store_data_version(c->store, &dv) != LW_OK) {
        db_failed(c, "reading the database's change counter");
        return;
    }
    if (dv != c->data_version) {
        c->data_version = dv;
        c->look = true;
        c->sweep_due = true;
    }
    if (c->link->connected &&
        (c->look || c->look_connects != c->link->connects))
        send_queued(c);
    answer(c);
    since = ev_now(c->loop) - c->swept_at;
    if ((c->sweep_due && since >= CASES_SWEEP_MIN_S) || since >= CASES_SWEEP_S)
        sweep_cases(c);
}

static void answer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    answer(w->data); /* a transaction open again: the next poll tick */
}

static void hourly_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwd_commands *c = w->data;
    int64_t now = lwrt_wall_ms(), n = 0;

    (void)loop;
    (void)revents;
    if (lw_store_in_txn(c->store))
        return;
    if (lw_cmd_expire(c->store, now - GIVE_UP_MS, now, &n) != LW_OK) {
        db_failed(c, "giving up on unanswered commands");
        return;
    }
    if (n > 0) {
        c->failed += (uint64_t)n;
        lwrt_log(LOG_INFO,
                 "commands: gave up on %lld sent a day ago without an "
                 "answer",
                 (long long)n);
        count_open(c);
    }
}

void lwd_commands_init(struct lwd_commands *c, struct ev_loop *loop,
                       struct lw_store *store, struct lwd_mqtt *link,
                       const struct lw_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->store = store;
    c->link = link;
    c->cfg = cfg;
    c->look = true;
    c->sweep_due = true;
    c->answer_due = true;
    c->data_version = -1;
    count_open(c);
    ev_timer_init(&c->poll, poll_cb, COMMANDS_POLL_S, COMMANDS_POLL_S);
    ev_timer_init(&c->answer, answer_cb, 0., 0.);
    ev_timer_init(&c->hourly, hourly_cb, 60., HOURLY_S);
    c->poll.data = c->answer.data = c->hourly.data = c;
    ev_timer_start(loop, &c->poll);
    ev_timer_start(loop, &c->hourly);
}

void lwd_commands_fixes_stored(struct lwd_commands *c)
{
    if (!c->loop)
        return;
    c->answer_due = true;
    if (c->sent_open > 0 && !ev_is_active(&c->answer))
        ev_timer_start(c->loop, &c->answer);
}

void lwd_commands_connected(struct lwd_commands *c)
{
    if (c->loop)
        c->look = true;
}

void lwd_commands_release(struct lwd_commands *c)
{
    if (!c->loop)
        return;
    ev_timer_stop(c->loop, &c->poll);
    ev_timer_stop(c->loop, &c->answer);
    ev_timer_stop(c->loop, &c->hourly);
    if (c->published || c->failed)
        lwrt_log(
            LOG_INFO, "commands: %llu published, %llu answered, %llu failed",
            (unsigned long long)c->published, (unsigned long long)c->answered,
            (unsigned long long)c->failed);
    c->loop = NULL;
}
