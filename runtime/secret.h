/*
 * runtime/secret.h - the programs' one reader of passwords and other
 * secrets: a file named in the configuration, or a systemd credential.
 *
 * A secret is the first line of its file, without the line end. Under
 * systemd the units hand secrets over with LoadCredential=, in
 * $CREDENTIALS_DIRECTORY/<name> (readable by the service only), so the
 * configuration names no file; when it does name one, that file wins.
 */
#ifndef LWRT_SECRET_H
#define LWRT_SECRET_H

#include <stddef.h>

/* Longest secret line accepted, without its line end. */
#define LWRT_SECRET_MAX 1023

/* What lwrt_secret_read found. */
enum lwrt_secret {
    LWRT_SECRET_ERROR = -1, /* could not read it: err says why */
    LWRT_SECRET_NONE = 0,   /* no file configured and no such credential */
    LWRT_SECRET_EMPTY = 1,  /* the file's first line is empty */
    LWRT_SECRET_OK = 2,     /* buf holds a secret of at least one byte */
};

/*
 * Reads a secret: the first line of path when path is neither NULL nor
 * empty, else of $CREDENTIALS_DIRECTORY/credential when that variable is
 * set, credential is not NULL and the file exists. what names the secret
 * in messages ("mqtt password file"). buf (buflen bytes, at least
 * LWRT_SECRET_MAX + 1 for every secret to fit) gets the secret, or "" for
 * anything but LWRT_SECRET_OK; the caller wipes it when done. src (may be
 * NULL) gets the path that was read, or "".
 *
 * Errors (LWRT_SECRET_ERROR, with a sentence in err): the file cannot be
 * opened or read, it is empty (not even a line end: more likely a mistake
 * than "no password"), or its first line does not fit in buf. A file that
 * every user may read is logged as a warning and read all the same.
 */
enum lwrt_secret lwrt_secret_read(const char *what, const char *path,
                                  const char *credential, char *buf,
                                  size_t buflen, char *src, size_t srclen,
                                  char *err, size_t errlen);

#endif
