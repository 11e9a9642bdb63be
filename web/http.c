/*
 * http.c - libmicrohttpd on the libev loop, requests in and responses out.
 *
 * MHD runs without threads of its own (no MHD_USE_INTERNAL_POLLING_THREAD)
 * and with epoll: all its sockets sit in one epoll descriptor, which the
 * loop watches with one ev_io; one ev_timer follows MHD_get_timeout. After
 * every MHD_run the timer is set again, to 0 when MHD has work left (TLS
 * data already read, a resumed connection).
 *
 * Bodies: at most LW_WEBREQ_BODY_MAX bytes, refused before a byte of them
 * is read: a Content-Length over it is answered 413, a body without one
 * (chunked) 411. MHD 0.9 takes an answer only before the body or after all
 * of it, so a chunked body could be refused only after reading it to its
 * end (a client could send gigabytes) or by cutting the connection without
 * a word; every client of this API (the page's fetch, curl -d, libraries
 * given a string) sends a Content-Length for the small JSON it posts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "runtime/clock.h"
#include "runtime/log.h"
#include "web.h"

static void rearm(struct lww *w)
{
    MHD_UNSIGNED_LONG_LONG t;

    ev_timer_stop(w->loop, &w->mhd_timer);
    if (MHD_get_timeout(w->mhd, &t) == MHD_YES) {
        ev_timer_set(&w->mhd_timer, (double)t / 1000.0, 0.);
        ev_timer_start(w->loop, &w->mhd_timer);
    }
}

static void run_mhd(struct lww *w)
{
    MHD_run(w->mhd);
    rearm(w);
}

void lww_http_kick(struct lww *w)
{
    if (w->mhd)
        run_mhd(w);
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    run_mhd(io->data);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    run_mhd(t->data);
}

/* The raw path: we split it before decoding (a device id holds '/'). */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    lwrt_log(LOG_WARNING, "http: %s", buf);
}

void lww_security_headers(struct lww *w, struct MHD_Response *resp)
{
    char csp[LW_CONFIG_STR_MAX + 400];
    char origin[LW_CONFIG_STR_MAX + 1] = "";
    const char *t = w->cfg.web_tile_url;

    /* the tile server's origin: scheme://host[:port] of tile_url */
    if (strncmp(t, "https://", 8) == 0 || strncmp(t, "http://", 7) == 0) {
        const char *h = strstr(t, "://") + 3;
        size_t n = strcspn(h, "/");
        snprintf(origin, sizeof(origin), "%.*s", (int)(h - t + (long)n), t);
        /* {s}.tile... subdomains: allow the parent with a wildcard */
        if (strstr(origin, "{s}")) {
            char *s = strstr(origin, "{s}");
            s[0] = '*';
            memmove(s + 1, s + 3, strlen(s + 3) + 1);
        }
    }
    snprintf(csp, sizeof(csp),
             "default-src 'self'; script-src 'self'; style-src 'self'; "
             "img-src 'self' data: %s; connect-src 'self'; "
             "worker-src 'self'; object-src 'none'; base-uri 'none'; "
             "frame-ancestors 'none'; form-action 'self'",
             origin);
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (w->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security",
                                "max-age=31536000");
}

enum MHD_Result lww_reply_text(struct lww_req *r, unsigned status,
                               const char *type, const char *data, size_t len,
                               const char *disposition)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)data,
                                           MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (disposition)
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    lww_security_headers(r->w, resp);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

enum MHD_Result lww_reply_owned(struct lww_req *r, unsigned status,
                                const char *type, char *data, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    lww_security_headers(r->w, resp);
    ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

enum MHD_Result lww_reply_json(struct lww_req *r, unsigned status, json_t *o)
{
    char *text;
    enum MHD_Result ret;

    if (!o)
        return lww_reply_error(r, 500, "out of memory");
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        return lww_reply_error(r, 500, "cannot write JSON");
    ret = lww_reply_text(r, status, "application/json", text, strlen(text),
                         NULL);
    free(text);
    return ret;
}

enum MHD_Result lww_reply_error(struct lww_req *r, unsigned status,
                                const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    json_t *o;
    char *text;
    enum MHD_Result ret;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o = json_pack("{s:s}", "error", msg);
    text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!text)
        return MHD_NO;
    if (status == 503) {
        /* the database is busy (lienwatchd's commit, a long purge) or
         * failing: try again shortly, the page and clients know the
         * header */
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-store");
        MHD_add_response_header(resp, "Retry-After", LWW_RETRY_AFTER_S);
        lww_security_headers(r->w, resp);
        ret = MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
        r->answered = true;
        lwrt_log(LOG_WARNING, "%s %s: %u %s", r->method, r->client, status,
                 msg);
        return ret;
    }
    ret = lww_reply_text(r, status, "application/json", text, strlen(text),
                         NULL);
    free(text);
    if (status >= 500)
        lwrt_log(LOG_ERR, "%s %s: %u %s", r->method, r->client, status, msg);
    return ret;
}

const char *lww_header(struct lww_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *lww_query(struct lww_req *r, const char *name, char *out,
                      size_t outlen, bool *bad)
{
    const char *raw =
        MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);

    if (!raw)
        return NULL;
    if (lw_webreq_decode(raw, strlen(raw), true, out, outlen) != LW_OK) {
        out[0] = '\0';
        if (bad)
            *bad = true;
    }
    return out;
}

static void client_address(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    socklen_t sl;

    snprintf(out, len, "unknown");
    if (!ci || !ci->client_addr)
        return;
    sl = ci->client_addr->sa_family == AF_INET6
             ? sizeof(struct sockaddr_in6)
             : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, sl, out, (socklen_t)len, NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(out, len, "unknown");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct lww *w = cls;
    struct lww_req *r = *con_cls;

    (void)version;
    if (!r) {
        const char *cl, *te;
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->w = w;
        r->conn = c;
        r->method = method;
        r->now_ms = lwrt_wall_ms();
        client_address(c, r->client, sizeof(r->client));
        *con_cls = r;
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_TRANSFER_ENCODING);
        /* answered now, before a byte of the body is read: MHD sends the
         * answer, closes the connection and never reads the rest */
        if (cl && strtoull(cl, NULL, 10) > LW_WEBREQ_BODY_MAX) {
            lwrt_log(LOG_NOTICE, "%s %s %s: body of %s bytes refused", method,
                     url, r->client, cl);
            return lww_reply_error(r, 413,
                                   "the request body is larger than %d "
                                   "bytes (Content-Length %s)",
                                   LW_WEBREQ_BODY_MAX, cl);
        }
        if (!cl && te) {
            lwrt_log(LOG_NOTICE, "%s %s %s: body without Content-Length "
                     "refused", method, url, r->client);
            return lww_reply_error(r, 411,
                                   "send the request body with a "
                                   "Content-Length (at most %d bytes), "
                                   "not chunked",
                                   LW_WEBREQ_BODY_MAX);
        }
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES; /* e.g. the 413 above: rest of the body dropped */
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->len + n > LW_WEBREQ_BODY_MAX) {
            /* cannot happen (the length was checked first): MHD takes no
             * answer in the middle of a body, so the connection is cut
             * rather than the rest read */
            lwrt_log(LOG_WARNING,
                     "%s %s: request body over %d bytes: connection closed",
                     r->method, r->client, LW_WEBREQ_BODY_MAX);
            return MHD_NO;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->len + n + 1 < 4096 ? 4096 : (r->len + n + 1) * 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    r->now_ms = lwrt_wall_ms();
    if (strncmp(url, "/api/", 5) == 0)
        return lww_api(r, url);
    return lww_static(r, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct lww_req *r = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    free(r->body);
    free(r);
    *con_cls = NULL;
}

int lww_http_start(struct lww *w)
{
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[16];
    int n = 0;

    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                        (intptr_t)mhd_log, w};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET,
                                        w->listen_fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        w->cfg.web_max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 60,
                                        NULL};
    opts[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
                                        (intptr_t)no_unescape, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)on_completed, w};
    if (w->tls) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            w->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            w->key_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            "SECURE256:+SECURE128:-VERS-ALL:"
                                            "+VERS-TLS1.3:+VERS-TLS1.2"};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    w->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
                              MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!w->mhd) {
        lwrt_log(LOG_ERR, "cannot start the HTTP server%s",
                 w->tls ? " (is the certificate or key invalid?)" : "");
        return -1;
    }
    info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        lwrt_log(LOG_ERR, "libmicrohttpd gives no epoll descriptor");
        return -1;
    }
    ev_io_init(&w->mhd_io, io_cb, info->epoll_fd, EV_READ);
    w->mhd_io.data = w;
    ev_io_start(w->loop, &w->mhd_io);
    ev_init(&w->mhd_timer, timer_cb);
    w->mhd_timer.data = w;
    rearm(w);
    return 0;
}

void lww_http_stop(struct lww *w)
{
    if (!w->mhd)
        return;
    lww_sse_release(w); /* resumes suspended streams: MHD must see them */
    ev_io_stop(w->loop, &w->mhd_io);
    ev_timer_stop(w->loop, &w->mhd_timer);
    MHD_stop_daemon(w->mhd);
    w->mhd = NULL;
}
