/*
 * runtime/secret.c - see secret.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/log.h"
#include "runtime/secret.h"

/* Room for "$CREDENTIALS_DIRECTORY/name". */
#define CRED_PATH_MAX 4096

static void set_src(char *src, size_t srclen, const char *path)
{
    if (src && srclen)
        snprintf(src, srclen, "%s", path);
}

enum lwrt_secret lwrt_secret_read(const char *what, const char *path,
                                  const char *credential, char *buf,
                                  size_t buflen, char *src, size_t srclen,
                                  char *err, size_t errlen)
{
    char cred_path[CRED_PATH_MAX];
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    enum lwrt_secret rc = LWRT_SECRET_ERROR;
    struct stat st;
    size_t n;
    FILE *f;

    if (buflen)
        buf[0] = '\0';
    set_src(src, srclen, "");
    if (!path || !*path) {
        if (!credential || !dir || !*dir)
            return LWRT_SECRET_NONE;
        snprintf(cred_path, sizeof(cred_path), "%s/%s", dir, credential);
        if (access(cred_path, F_OK) != 0)
            return LWRT_SECRET_NONE;
        path = cred_path;
    }
    set_src(src, srclen, path);
    if (buflen < 2) {
        snprintf(err, errlen, "%s %s: no room for the secret", what, path);
        return LWRT_SECRET_ERROR;
    }
    f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s %s: cannot open: %s", what, path,
                 strerror(errno));
        return LWRT_SECRET_ERROR;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
        lwrt_log(LOG_WARNING,
                 "%s %s is readable by every user (mode %04o); chmod o-r it",
                 what, path, (unsigned)(st.st_mode & 07777));
    if (!fgets(buf, (int)(buflen > INT_MAX ? INT_MAX : buflen), f)) {
        snprintf(err, errlen, "%s %s: %s", what, path,
                 ferror(f) ? strerror(errno) : "the file is empty");
        buf[0] = '\0';
        goto out_close;
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == buflen - 1 && !feof(f)) {
        /* no line end within the buffer and more to come */
        int c = fgetc(f);
        if (c != EOF && c != '\n' && c != '\r') {
            snprintf(err, errlen,
                     "%s %s: the first line is longer than %zu "
                     "bytes",
                     what, path, buflen - 1);
            memset(buf, 0, buflen);
            goto out_close;
        }
    }
    buf[n] = '\0';
    rc = n ? LWRT_SECRET_OK : LWRT_SECRET_EMPTY;
out_close:
    fclose(f);
    return rc;
}
