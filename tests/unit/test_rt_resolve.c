/*
 * test_rt_resolve.c - unit tests for runtime/resolve.c: the address list
 * (order kept, duplicates and other families dropped), loopback and
 * numeric-host checks, and the lookup on a libev loop: a numeric address
 * answered at once, "localhost" through the thread, a cancelled lookup
 * never calling back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "runtime/resolve.h"

/* A hand-made getaddrinfo answer: ::1, 127.0.0.1, ::1 again, a Unix
 * socket, 192.0.2.7. */
struct fake {
    struct addrinfo ai[5];
    struct sockaddr_in6 v6a, v6b;
    struct sockaddr_in v4a, v4b;
    struct sockaddr_un un;
};

static void make_fake(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->v6a.sin6_family = f->v6b.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &f->v6a.sin6_addr);
    inet_pton(AF_INET6, "::1", &f->v6b.sin6_addr);
    f->v4a.sin_family = f->v4b.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &f->v4a.sin_addr);
    inet_pton(AF_INET, "192.0.2.7", &f->v4b.sin_addr);
    f->un.sun_family = AF_UNIX;
    strcpy(f->un.sun_path, "/tmp/x");
    struct {
        int family;
        void *sa;
        socklen_t len;
    } parts[] = {
        {AF_INET6, &f->v6a, sizeof(f->v6a)}, {AF_INET, &f->v4a, sizeof(f->v4a)},
        {AF_INET6, &f->v6b, sizeof(f->v6b)}, {AF_UNIX, &f->un, sizeof(f->un)},
        {AF_INET, &f->v4b, sizeof(f->v4b)},
    };
    for (int i = 0; i < 5; i++) {
        f->ai[i].ai_family = parts[i].family;
        f->ai[i].ai_socktype = SOCK_STREAM;
        f->ai[i].ai_addr = parts[i].sa;
        f->ai[i].ai_addrlen = parts[i].len;
        f->ai[i].ai_next = i < 4 ? &f->ai[i + 1] : NULL;
    }
}

static void test_addrs_from_list(void **state)
{
    struct fake f;
    struct lwrt_addr *a;
    size_t n = 99;

    (void)state;
    make_fake(&f);
    a = lwrt_addrs_from_list(f.ai, &n);
    assert_non_null(a);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].text, "::1");
    assert_string_equal(a[1].text, "127.0.0.1");
    assert_string_equal(a[2].text, "192.0.2.7");
    assert_int_equal(a[0].sa.ss_family, AF_INET6);
    assert_int_equal(a[1].len, sizeof(struct sockaddr_in));
    free(a);
    assert_null(lwrt_addrs_from_list(NULL, &n));
    assert_int_equal(n, 0);
    /* only a Unix socket: nothing usable */
    f.ai[3].ai_next = NULL;
    assert_null(lwrt_addrs_from_list(&f.ai[3], &n));
    assert_int_equal(n, 0);
}

static struct lwrt_addr addr_of(const char *text)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *ai = NULL;
    struct lwrt_addr a;
    size_t n;

    assert_int_equal(getaddrinfo(text, NULL, &hints, &ai), 0);
    struct lwrt_addr *list = lwrt_addrs_from_list(ai, &n);
    freeaddrinfo(ai);
    assert_non_null(list);
    a = list[0];
    free(list);
    return a;
}

static void test_loopback(void **state)
{
    static const char *yes[] = {"127.0.0.1", "127.1.2.3", "::1",
                                "::ffff:127.0.0.1"};
    static const char *no[] = {"10.0.0.1",    "192.0.2.1", "::ffff:10.0.0.1",
                               "2001:db8::1", "::",        "128.0.0.1"};

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct lwrt_addr a = addr_of(yes[i]);
        if (!lwrt_addr_is_loopback(&a))
            fail_msg("%s is loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct lwrt_addr a = addr_of(no[i]);
        if (lwrt_addr_is_loopback(&a))
            fail_msg("%s is not loopback", no[i]);
    }
}

static void test_numeric_host(void **state)
{
    (void)state;
    assert_true(lwrt_host_is_numeric("127.0.0.1"));
    assert_true(lwrt_host_is_numeric("::1"));
    assert_true(lwrt_host_is_numeric("2001:db8::2"));
    assert_false(lwrt_host_is_numeric("localhost"));
    assert_false(lwrt_host_is_numeric("mqtt.example.com"));
    assert_false(lwrt_host_is_numeric(""));
}

/* What a callback received. */
struct answer {
    int calls;
    int err;
    size_t n;
    char first[LWRT_ADDR_TEXT_MAX];
    bool has_v4_loopback;
};

static void on_answer(void *ctx, int err, int errno_, struct lwrt_addr *addrs,
                      size_t n)
{
    struct answer *a = ctx;

    (void)errno_;
    a->calls++;
    a->err = err;
    a->n = n;
    if (n)
        snprintf(a->first, sizeof(a->first), "%s", addrs[0].text);
    for (size_t i = 0; i < n; i++)
        if (strcmp(addrs[i].text, "127.0.0.1") == 0)
            a->has_v4_loopback = true;
    free(addrs);
}

static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until it has nothing left to do or seconds pass. */
static void run_loop(struct ev_loop *loop, double seconds)
{
    ev_timer t;

    ev_timer_init(&t, stop_cb, seconds, 0.);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
}

static void test_resolve_numeric_at_once(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lwrt_lookup *lk = (struct lwrt_lookup *)1;
    struct answer a = {0};

    (void)state;
    assert_int_equal(lwrt_resolve(loop, "::1", on_answer, &a, &lk), 0);
    assert_null(lk);
    assert_int_equal(a.calls, 1); /* before returning */
    assert_int_equal(a.err, 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.first, "::1");
    ev_loop_destroy(loop);
}

static void test_resolve_name_in_thread(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lwrt_lookup *lk = NULL;
    struct answer a = {0};

    (void)state;
    assert_int_equal(lwrt_resolve(loop, "localhost", on_answer, &a, &lk), 0);
    assert_non_null(lk);
    assert_int_equal(a.calls, 0); /* the answer comes through the loop */
    /* the loop ends by itself once the answer's watcher is stopped */
    run_loop(loop, 10.);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, 0);
    assert_true(a.n >= 1);
    /* whichever /etc/hosts: localhost is 127.0.0.1 (possibly after ::1) */
    assert_true(a.has_v4_loopback);
    ev_loop_destroy(loop);
}

static void test_resolve_cancel(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct lwrt_lookup *lk = NULL;
    struct answer a = {0};

    (void)state;
    assert_int_equal(lwrt_resolve(loop, "localhost", on_answer, &a, &lk), 0);
    lwrt_resolve_cancel(lk);
    run_loop(loop, 0.5);
    assert_int_equal(a.calls, 0);
    lwrt_resolve_cancel(NULL);
    ev_loop_destroy(loop);
    /* let the thread end and free its job before the process exits */
    usleep(200 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addrs_from_list),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_numeric_host),
        cmocka_unit_test(test_resolve_numeric_at_once),
        cmocka_unit_test(test_resolve_name_in_thread),
        cmocka_unit_test(test_resolve_cancel),
    };

    return cmocka_run_group_tests_name("runtime resolve", tests, NULL, NULL);
}
