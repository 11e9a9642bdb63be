/*
 * jsonw.h - a streaming JSON writer for large answers.
 *
 * jansson builds a tree of every value and then walks it to print: for the
 * web's lists (two thousand objects, a megabyte of text) that was most of
 * an answer's time. This writer appends to one growing buffer as it goes.
 * Its output is what json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) prints
 * for the same values: strings escaped with every byte outside printable
 * ASCII as \uXXXX (a surrogate pair above U+FFFF), a byte that is not part
 * of well-formed UTF-8 as U+FFFD; reals with 17 significant digits (they
 * read back to the same double) and a ".0" when they would look integral;
 * a NaN or infinity as null.
 *
 * Commas and colons are placed by the writer: call lw_jw_key before each
 * member's value inside an object, nothing between array elements. Nesting
 * is at most LW_JW_DEPTH deep; a mistake in the calls (too deep, an end
 * that does not match) marks the writer failed, as does a failed
 * allocation: later calls do nothing and lw_jw_take returns NULL, so a
 * writer checks once at the end.
 *
 * No clock, no globals; one writer, one thread.
 */
#ifndef LIENWATCH_JSONW_H
#define LIENWATCH_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of arrays and objects. */
#define LW_JW_DEPTH 16

struct lw_jw {
    char *p;                /* the text (owned) */
    size_t len, cap;        /* bytes used, allocated */
    bool failed;            /* out of memory or a misuse */
    int depth;              /* open containers */
    bool more[LW_JW_DEPTH]; /* the container has a member already */
    bool obj[LW_JW_DEPTH];  /* the container is an object */
    bool keyed;             /* a key was written; its value is next */
};

/* An empty writer (or zero-initialise the struct). */
void lw_jw_init(struct lw_jw *w);

void lw_jw_object(struct lw_jw *w);     /* { */
void lw_jw_object_end(struct lw_jw *w); /* } */
void lw_jw_array(struct lw_jw *w);      /* [ */
void lw_jw_array_end(struct lw_jw *w);  /* ] */

/* A member's name, inside an object. */
void lw_jw_key(struct lw_jw *w, const char *key);

/* Values. s is borrowed; a NULL s writes null. */
void lw_jw_string(struct lw_jw *w, const char *s);
/* s, or null when s is NULL or "". */
void lw_jw_string_or_null(struct lw_jw *w, const char *s);
void lw_jw_int(struct lw_jw *w, int64_t v);
/* v, or null when it is a NaN or infinite. */
void lw_jw_real(struct lw_jw *w, double v);
void lw_jw_bool(struct lw_jw *w, bool v);
void lw_jw_null(struct lw_jw *w);
/* A value already encoded as JSON text (trusted: copied as it is). */
void lw_jw_raw(struct lw_jw *w, const char *json);

/* The key then the value, in one call. */
void lw_jw_kstring(struct lw_jw *w, const char *key, const char *s);
void lw_jw_kint(struct lw_jw *w, const char *key, int64_t v);
void lw_jw_kreal(struct lw_jw *w, const char *key, double v);
void lw_jw_kbool(struct lw_jw *w, const char *key, bool v);

/*
 * The text (NUL-terminated; *len, when not NULL, gets its length), owned by
 * the caller (free()). NULL when the writer failed or a container is still
 * open. Either way the writer is empty afterwards.
 */
char *lw_jw_take(struct lw_jw *w, size_t *len);

/* Bytes written so far, and the text so far (borrowed: valid until the
 * next call; "" when empty): for a caller that cuts the output into
 * pieces (an array element starts after its comma). */
size_t lw_jw_len(const struct lw_jw *w);
const char *lw_jw_text(const struct lw_jw *w);

/* Frees the text; the writer is empty afterwards. */
void lw_jw_release(struct lw_jw *w);

#endif
