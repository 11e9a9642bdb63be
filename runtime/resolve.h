/*
 * runtime/resolve.h - a host name lookup that does not block the loop.
 *
 * getaddrinfo() blocks for as long as DNS takes (seconds when a server is
 * slow or gone). A numeric address is converted at once; a name is looked
 * up in a one-shot thread that hands the answer back to the loop through an
 * ev_async, so the loop keeps serving its timers, signals and watchdog.
 * The thread touches nothing but its own job; a cancelled lookup finishes
 * in the background and frees itself.
 *
 * Also the small pure helpers that the MQTT glue uses on addresses, kept
 * here so that they are unit-tested without a network.
 */
#ifndef LWRT_RESOLVE_H
#define LWRT_RESOLVE_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct addrinfo;

/* Room for a numeric address as text, with an IPv6 scope ("%eth0"). */
#define LWRT_ADDR_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 2)

/* One address to connect to. */
struct lwrt_addr {
    struct sockaddr_storage sa;    /* the address (port not set) */
    socklen_t len;                 /* bytes used of sa */
    char text[LWRT_ADDR_TEXT_MAX]; /* numeric form ("::1", "127.0.0.1") */
};

/*
 * Called once on the loop with the result: err is 0 or a getaddrinfo error
 * (EAI_*, see gai_strerror; EAI_SYSTEM with errno_ set), addrs the
 * addresses in getaddrinfo's order without duplicates (owned by the
 * callee: free() it), n how many.
 */
typedef void lwrt_resolve_cb(void *ctx, int err, int errno_,
                             struct lwrt_addr *addrs, size_t n);

struct lwrt_lookup;

/*
 * Looks host up (TCP, IPv4 and IPv6). A numeric address calls cb before
 * returning; a name starts a thread. *out (may be NULL for a numeric
 * address) gets the running lookup, to cancel it; it is invalid once cb
 * has been called. Returns 0, or -1 with errno when no thread could be
 * started (cb is not called then).
 */
int lwrt_resolve(struct ev_loop *loop, const char *host, lwrt_resolve_cb *cb,
                 void *ctx, struct lwrt_lookup **out);

/* Cancels a running lookup: cb will not be called. NULL is a no-op. */
void lwrt_resolve_cancel(struct lwrt_lookup *lk);

/*
 * Copies the addresses of list (getaddrinfo's answer, borrowed) into a new
 * array, in order, skipping duplicates and families other than IPv4 and
 * IPv6. Returns the array (free() it; NULL when empty or out of memory)
 * and sets *n.
 */
struct lwrt_addr *lwrt_addrs_from_list(const struct addrinfo *list, size_t *n);

/* True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
bool lwrt_addr_is_loopback(const struct lwrt_addr *a);

/* True when host is a numeric IPv4 or IPv6 address (not a name). */
bool lwrt_host_is_numeric(const char *host);

#endif
