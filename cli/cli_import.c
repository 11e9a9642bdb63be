/*
 * cli_import.c - the size limit of imports and the bounded read of their
 * files (see cli_import.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_import.h"
#include "lienwatch/config.h"

/* Room for a configuration error. */
#define ERR_MAX 512
/* First buffer for a stream of unknown size; doubled as needed. */
#define READ_CHUNK 65536
/* Bytes per MiB, for messages. */
#define MIB (1024.0 * 1024.0)

void cli_import_limit_init(struct cli_import_limit *l)
{
    struct lw_config c;

    lw_config_defaults(&c);
    l->max_bytes = (size_t)c.import_max_bytes;
    l->from_option = false;
}

int cli_import_opt(const struct cli_command *me, int opt,
                   struct cli_import_limit *l)
{
    char err[ERR_MAX] = "";
    struct lw_config c;

    lw_config_defaults(&c);
    if (opt == CLI_OPT_CONFIG) {
        if (lw_config_load(&c, optarg, err, sizeof(err)) != LW_OK)
            return cli_usage_error(me, "--config %s: %s", optarg,
                                   err[0] ? err : "cannot be read");
        if (!l->from_option)
            l->max_bytes = (size_t)c.import_max_bytes;
        return CLI_CONTINUE;
    }
    if (lw_config_set(&c, "store", "import_max_bytes", optarg, err,
                      sizeof(err)) != LW_OK)
        return cli_usage_error(me, "--max-bytes: %s", err);
    l->max_bytes = (size_t)c.import_max_bytes;
    l->from_option = true;
    return CLI_CONTINUE;
}

/* Prints the "too large" refusal; returns CLI_EXIT_USAGE. */
static int too_large(const char *cmd, const char *path, const char *what,
                     const struct cli_import_limit *l)
{
    return cli_error(cmd, CLI_EXIT_USAGE,
                     "%s: %s than %zu bytes (%.4g MiB), the most an import "
                     "reads ([store] import_max_bytes with --config, or "
                     "--max-bytes); nothing imported",
                     path, what, l->max_bytes, (double)l->max_bytes / MIB);
}

int cli_import_read(const char *cmd, const char *path,
                    const struct cli_import_limit *l, char **text, size_t *len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    size_t cap, n = 0, want = l->max_bytes + 1; /* one past: "more" */
    char *buf = NULL, *nb;
    struct stat st;
    int rc = CLI_CONTINUE;
    ssize_t r;

    if (fd < 0)
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot open %s: %s", path,
                         strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot read %s: %s", path,
                       strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = cli_error(cmd, CLI_EXIT_USAGE, "%s is a directory, not a file",
                       path);
        goto out_close;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > l->max_bytes) {
        char what[64];

        snprintf(what, sizeof(what), "%jd bytes, more", (intmax_t)st.st_size);
        rc = too_large(cmd, path, what, l);
        goto out_close;
    }
    /* a regular file: its size (it may still grow: read until EOF) */
    cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1
                                                : READ_CHUNK;
    if (cap > want)
        cap = want;
    buf = malloc(cap + 1);
    if (!buf)
        goto out_nomem;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap * 2 < want ? cap * 2 : want;

            if (n == want)
                break; /* one byte past the limit: stop reading */
            nb = realloc(buf, ncap + 1);
            if (!nb)
                goto out_nomem;
            buf = nb;
            cap = ncap;
        }
        r = read(fd, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot read %s: %s", path,
                           strerror(errno));
            goto out_free;
        }
        n += (size_t)r;
    }
    if (n > l->max_bytes) {
        rc = too_large(cmd, path, "more", l);
        goto out_free;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
    goto out_close;
out_nomem:
    rc = cli_error(cmd, CLI_EXIT_FAIL, "%s: out of memory", path);
out_free:
    free(buf);
out_close:
    if (!is_stdin)
        close(fd);
    return rc;
}
