/*
 * commands.h - commands to devices ("locate now"): queued in the database
 * by the web service or the CLI, published over MQTT by lienwatchd, and
 * answered by the device's next fix.
 *
 * lienwatch-web does not talk MQTT: it queues a row here (lw_cmd_queue);
 * lienwatchd, which sees other connections' commits through PRAGMA
 * data_version, lists what is queued (lw_cmd_pending), publishes it
 * (lw_cmd_route says where and what) and marks it sent (lw_cmd_mark_sent);
 * after committing fixes it marks answered every sent command whose device
 * has a fix newer than the command (lw_cmd_answer). States:
 *
 *     queued --publish--> sent --a newer fix--> answered
 *        \--no topic, or not sent in 10 min--> failed <--no fix in a day--/
 *
 * "Newer" is by the fix's own time (the device's clock) against the
 * command's creation time (ours): fix_time_ms > created_ms. A fix taken
 * before the command was asked for does not answer it, however late it
 * arrives.
 *
 * Actions: only LW_CMD_REPORT_NOW today ("report_now": send a fix at once).
 * A second report_now for a device while one is still queued is not queued
 * again: lw_cmd_queue returns the queued one's id.
 *
 * Audit: lw_cmd_queue appends one audit record "command report_now"
 * (device, case_id when given, by's reason; detail "command=ID") as by, in
 * the same transaction: asking a borrower's car where it is counts as a
 * look. The daemon's state changes
 * (sent, answered, failed) are not audited (no person acts).
 *
 * Errors: LW_OK, or LW_ERR_INVAL for a NULL handle or required argument, a
 * read-only handle for a write, or bad input (reason in lw_store_errmsg);
 * LW_ERR_NOTFOUND for an unknown id; or a database error of store.h.
 * Strings passed in are borrowed; structs handed to callbacks are valid
 * during the call only. Times are UTC ms since the epoch, from the caller.
 */
#ifndef LIENWATCH_COMMANDS_H
#define LIENWATCH_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/audit.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/store.h"
#include "lienwatch/users.h"

/* Longest failure sentence kept with a command, without the NUL. */
#define LW_CMD_ERROR_MAX 200
/* Room for a command topic and payload (lw_cmd_route). */
#define LW_CMD_TOPIC_MAX 512
#define LW_CMD_PAYLOAD_MAX 128

enum lw_cmd_action {
    LW_CMD_REPORT_NOW = 1, /* "report_now": send a fix at once */
};

enum lw_cmd_state {
    LW_CMD_QUEUED = 0, /* waiting for lienwatchd */
    LW_CMD_SENT,       /* published (sent_ms) */
    LW_CMD_ANSWERED,   /* a newer fix arrived (answered_ms, answer_fix_ms) */
    LW_CMD_FAILED,     /* could not be sent (error says why) */
};

/* One command, as read. */
struct lw_cmd {
    int64_t id;                              /* command id, increasing from 1 */
    char device[LW_DEVICE_MAX + 1];          /* the device it goes to */
    enum lw_cmd_action action;               /* what it asks */
    enum lw_cmd_state state;                 /* where it stands */
    char requested_by[LW_USER_NAME_MAX + 1]; /* by->who, truncated */
    int64_t case_id;                         /* case it was asked under; 0 */
    int64_t created_ms;                      /* queued at (our clock) */
    int64_t sent_ms;                         /* published at; 0 before */
    int64_t answered_ms;                     /* answer seen at; 0 before */
    int64_t answer_fix_ms;                   /* fix time of the answering fix */
    char error[LW_CMD_ERROR_MAX + 1];        /* why it failed; "" */
};

/* "report_now"; "?" out of range. Static. */
const char *lw_cmd_action_name(enum lw_cmd_action a);
/* Parses "report_now". Returns LW_OK or LW_ERR_INVAL. */
enum lw_err lw_cmd_action_parse(const char *s, enum lw_cmd_action *out);
/* "queued", "sent", "answered", "failed"; "?" out of range. Static. */
const char *lw_cmd_state_name(enum lw_cmd_state st);

/*
 * Queues action for device (a device the store has heard of) as by (an
 * audit template as in users.h; who required), under case_id (0: none) at
 * now_ms. *id (may be NULL) gets the command's id: a new one, or that of
 * the same action still queued for device. Returns LW_OK; LW_ERR_INVAL
 * (bad action, device too long); LW_ERR_NOTFOUND (device never heard of);
 * or a database error.
 */
enum lw_err lw_cmd_queue(struct lw_store *s, const char *device,
                         enum lw_cmd_action action,
                         const struct lw_audit_rec *by, int64_t case_id,
                         int64_t now_ms, int64_t *id);

/* Reads command id into *out. Returns LW_OK, LW_ERR_NOTFOUND, LW_ERR_INVAL
 * or a database error. Works on read-only handles. */
enum lw_err lw_cmd_get(struct lw_store *s, int64_t id, struct lw_cmd *out);

/* Called per command; return 0 to go on, non-zero to stop (not an error).
 * The callback may change the command's state (lw_cmd_mark_*). */
typedef int (*lw_cmd_cb)(void *ctx, const struct lw_cmd *c);

/* Calls cb for each queued command, oldest first (at most limit; 0: no
 * limit). Returns LW_OK, LW_ERR_INVAL or a database error. One index
 * lookup when nothing is queued. */
enum lw_err lw_cmd_pending(struct lw_store *s, int64_t limit, lw_cmd_cb cb,
                           void *ctx);

/* Marks queued command id sent at now_ms. Returns LW_OK; LW_ERR_NOTFOUND
 * when id is not queued (unknown, or already sent); or a database error. */
enum lw_err lw_cmd_mark_sent(struct lw_store *s, int64_t id, int64_t now_ms);

/* Marks queued command id failed at now_ms with why (copied, truncated to
 * LW_CMD_ERROR_MAX). Returns as lw_cmd_mark_sent. */
enum lw_err lw_cmd_mark_failed(struct lw_store *s, int64_t id, const char *why,
                               int64_t now_ms);

/*
 * Marks answered (at now_ms) every sent command whose device's last-known
 * fix is newer than the command (fix_time_ms > created_ms), recording that
 * fix's time. *answered (may be NULL) gets how many. One statement on the
 * sent commands alone (an index of them): call it after each commit of
 * fixes while some are outstanding (lw_cmd_outstanding). Returns LW_OK or
 * a database error.
 */
enum lw_err lw_cmd_answer(struct lw_store *s, int64_t now_ms,
                          int64_t *answered);

/*
 * Gives up on commands sent before sent_before_ms and still unanswered:
 * marks them failed at now_ms with "no fix since it was sent" (the daemon
 * calls it hourly with a cut a day back, so a tracker that went dark does
 * not leave them outstanding for ever). *expired (may be NULL) gets how
 * many. Returns LW_OK or a database error.
 */
enum lw_err lw_cmd_expire(struct lw_store *s, int64_t sent_before_ms,
                          int64_t now_ms, int64_t *expired);

/* How many commands are queued or sent (not answered or failed) into *n.
 * Returns LW_OK, LW_ERR_INVAL or a database error. */
enum lw_err lw_cmd_outstanding(struct lw_store *s, int64_t *n);

/*
 * Where and what to publish for command c (pure): for a device named by
 * the OwnTracks filter owntracks_filter (its number of '/'-separated
 * levels equals the filter's number of '+' levels, e.g. "alice/phone" for
 * "owntracks/+/+"), the filter with those levels put in, then "/cmd"
 * ("owntracks/alice/phone/cmd"), and {"_type":"cmd","action":
 * "reportLocation"}; for a one-level device (lw-gpsbridge's), prefix
 * "/cmd/" device ("lienwatch/v1/cmd/van7") and {"action":"report_now"}.
 * owntracks_filter may be NULL or "" (OwnTracks off). topic and payload
 * get the texts (always terminated). Returns LW_OK; LW_ERR_NOTFOUND when
 * neither fits (the command is then marked failed); LW_ERR_RANGE when a
 * buffer is too small; LW_ERR_INVAL for NULL arguments.
 */
enum lw_err lw_cmd_route(const struct lw_cmd *c, const char *owntracks_filter,
                         const char *prefix, char *topic, size_t topic_len,
                         char *payload, size_t payload_len);

#endif
