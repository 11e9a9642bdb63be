/*
 * runtime/tls.h - the OpenSSL client context of an MQTT link.
 *
 * The MQTT glue connects libmosquitto to one numeric address at a time, so
 * libmosquitto's own TLS set-up would check the broker's certificate
 * against that address (and send it as SNI) instead of the configured host
 * name. This context is handed to libmosquitto instead (MOSQ_OPT_SSL_CTX):
 * it trusts the configured CA file/path, presents the client certificate,
 * requires a valid peer certificate for the configured host NAME (or the
 * configured IP address, when the host is one), and sends that name as
 * SNI. The verification error of the last handshake is kept for the log.
 */
#ifndef LWRT_TLS_H
#define LWRT_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* What the context is built from (all borrowed during lwrt_tls_new). */
struct lwrt_tls_opts {
    const char *host;     /* the configured broker host: name or address */
    const char *cafile;   /* PEM bundle of trusted CAs, or NULL/"" */
    const char *capath;   /* directory of hashed CA certificates, or NULL/"" */
    const char *certfile; /* client certificate chain (PEM), or NULL/"" */
    const char *keyfile;  /* its private key (PEM, unencrypted), or NULL/"" */
    bool insecure;        /* do not check the host name (tests only) */
};

struct lwrt_tls;

/*
 * Builds the context. Returns it, or NULL with a sentence in err (a CA,
 * certificate or key file that cannot be loaded, a key that does not match
 * the certificate).
 */
struct lwrt_tls *lwrt_tls_new(const struct lwrt_tls_opts *o, char *err,
                              size_t errlen);

/* The OpenSSL SSL_CTX, to hand to libmosquitto (which takes a reference). */
void *lwrt_tls_ctx(struct lwrt_tls *t);

/* Forgets the error of the previous handshake (call before each attempt). */
void lwrt_tls_reset(struct lwrt_tls *t);

/*
 * Why the last handshake's certificate check failed, as a sentence ("host
 * name verification failed: ..." or "certificate verify failed: ..."), or
 * NULL when it did not fail.
 */
const char *lwrt_tls_error(const struct lwrt_tls *t);

/* Frees the context (libmosquitto handles keep their own reference). NULL
 * is a no-op. */
void lwrt_tls_free(struct lwrt_tls *t);

#endif
