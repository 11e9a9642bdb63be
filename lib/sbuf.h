/*
 * sbuf.h - a growable NUL-terminated string for the core's text builders
 * (mail composition). Private to lib/: not installed, not for the daemon.
 *
 * An out-of-memory failure is sticky: later appends do nothing, and
 * lw_sb_take returns NULL, so a builder checks once at the end.
 */
#ifndef LIENWATCH_SBUF_H
#define LIENWATCH_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct lw_sb {
    char *p;    /* the text, NUL-terminated when len > 0; owned */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* an allocation failed: the text is incomplete */
};

/* Appends n bytes of s. */
void lw_sb_putn(struct lw_sb *b, const char *s, size_t n);
/* Appends the string s. */
void lw_sb_puts(struct lw_sb *b, const char *s);
/* Appends one byte. */
void lw_sb_putc(struct lw_sb *b, char c);
/* Appends formatted text. */
void lw_sb_printf(struct lw_sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Returns the text (owned by the caller, free()) and empties b; NULL when
 * an allocation failed (b is then freed too). An empty text is "".
 */
char *lw_sb_take(struct lw_sb *b);
/* Frees the text; b is empty afterwards. */
void lw_sb_release(struct lw_sb *b);

#endif
