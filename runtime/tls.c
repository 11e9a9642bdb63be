/*
 * runtime/tls.c - see tls.h.
 *
 * SNI: libmosquitto sets the host string it was given (here a numeric
 * address) as SNI just before its first SSL_connect. The info callback runs
 * at the start of that handshake, before the ClientHello is built, and puts
 * the configured name there instead (or removes it for an IP address, which
 * RFC 6066 does not allow as a server name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "runtime/resolve.h"
#include "runtime/tls.h"

/* Room for the configured host and for one error sentence. */
#define HOST_MAX 256
#define ERROR_MAX 384

struct lwrt_tls {
    SSL_CTX *ctx;          /* owned (libmosquitto holds more references) */
    char host[HOST_MAX];   /* configured host: the name to verify */
    bool host_is_ip;       /* host is a numeric address */
    bool insecure;         /* no host check */
    char error[ERROR_MAX]; /* the last handshake's verification error */
};

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* The queued OpenSSL errors, as one phrase; clears the queue. */
static void ssl_errors(char *buf, size_t len)
{
    unsigned long e;
    size_t used = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0 && used + 2 < len) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 used ? "; " : "", one);
    }
    if (!buf[0])
        snprintf(buf, len, "unknown OpenSSL error");
}

/* A daemon has no terminal to ask for a key's passphrase: refuse instead
 * of letting OpenSSL prompt on one. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static struct lwrt_tls *tls_of(const SSL *ssl)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct lwrt_tls *t = ssl ? tls_of(ssl) : NULL;
    int code = X509_STORE_CTX_get_error(x);

    if (ok || !t || t->error[0])
        return ok;
    if (code == X509_V_ERR_HOSTNAME_MISMATCH ||
        code == X509_V_ERR_IP_ADDRESS_MISMATCH)
        snprintf(t->error, sizeof(t->error),
                 "host name verification failed: the broker's certificate "
                 "is not for %s '%s'",
                 t->host_is_ip ? "address" : "host name", t->host);
    else
        snprintf(t->error, sizeof(t->error),
                 "certificate verify failed: %s (depth %d): is the broker's "
                 "certificate signed by a CA in cafile/capath, and current?",
                 X509_verify_cert_error_string(code),
                 X509_STORE_CTX_get_error_depth(x));
    return ok;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    struct lwrt_tls *t = tls_of(ssl);

    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_START) || !t)
        return;
    /* the callback gets a const SSL; setting SNI is what it is for here */
    SSL_set_tlsext_host_name((SSL *)ssl, t->host_is_ip ? NULL : t->host);
}

struct lwrt_tls *lwrt_tls_new(const struct lwrt_tls_opts *o, char *err,
                              size_t errlen)
{
    struct lwrt_tls *t = calloc(1, sizeof(*t));
    X509_VERIFY_PARAM *param;
    char ebuf[512];

    if (!t) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    snprintf(t->host, sizeof(t->host), "%s", o->host);
    t->host_is_ip = lwrt_host_is_numeric(o->host);
    t->insecure = o->insecure;
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        ssl_errors(ebuf, sizeof(ebuf));
        snprintf(err, errlen, "TLS: cannot create a context: %s", ebuf);
        goto out_free;
    }
    SSL_CTX_set_app_data(t->ctx, t);
    /* as libmosquitto's default: TLS 1.2 or later, no compression */
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase);
    if (!nz(o->cafile) && !nz(o->capath)) {
        snprintf(err, errlen, "TLS: no cafile or capath to trust");
        goto out_free;
    }
    if (!SSL_CTX_load_verify_locations(t->ctx, nz(o->cafile), nz(o->capath))) {
        ssl_errors(ebuf, sizeof(ebuf));
        snprintf(err, errlen,
                 "TLS: cannot load the CA certificates "
                 "(cafile '%s', capath '%s'): %s",
                 o->cafile ? o->cafile : "", o->capath ? o->capath : "", ebuf);
        goto out_free;
    }
    if (nz(o->certfile) &&
        SSL_CTX_use_certificate_chain_file(t->ctx, o->certfile) != 1) {
        ssl_errors(ebuf, sizeof(ebuf));
        snprintf(err, errlen, "TLS: cannot load the client certificate %s: %s",
                 o->certfile, ebuf);
        goto out_free;
    }
    if (nz(o->keyfile)) {
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->keyfile, SSL_FILETYPE_PEM) !=
            1) {
            ssl_errors(ebuf, sizeof(ebuf));
            snprintf(err, errlen,
                     "TLS: cannot load the client key %s "
                     "(it must be PEM without a passphrase): %s",
                     o->keyfile, ebuf);
            goto out_free;
        }
        if (SSL_CTX_check_private_key(t->ctx) != 1) {
            ssl_errors(ebuf, sizeof(ebuf));
            snprintf(err, errlen,
                     "TLS: the client key %s does not match "
                     "the certificate %s: %s",
                     o->keyfile, o->certfile ? o->certfile : "", ebuf);
            goto out_free;
        }
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
    if (!t->insecure) {
        param = SSL_CTX_get0_param(t->ctx);
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!(t->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, t->host)
                            : X509_VERIFY_PARAM_set1_host(param, t->host, 0))) {
            snprintf(err, errlen, "TLS: cannot check against host '%s'",
                     t->host);
            goto out_free;
        }
    }
    SSL_CTX_set_info_callback(t->ctx, info_cb);
    return t;
out_free:
    lwrt_tls_free(t);
    return NULL;
}

void *lwrt_tls_ctx(struct lwrt_tls *t)
{
    return t->ctx;
}

void lwrt_tls_reset(struct lwrt_tls *t)
{
    t->error[0] = '\0';
}

const char *lwrt_tls_error(const struct lwrt_tls *t)
{
    return t && t->error[0] ? t->error : NULL;
}

void lwrt_tls_free(struct lwrt_tls *t)
{
    if (!t)
        return;
    if (t->ctx) {
        SSL_CTX_set_app_data(t->ctx, NULL);
        SSL_CTX_free(t->ctx);
    }
    free(t);
}
