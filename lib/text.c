/*
 * text.c - bounded text copies and the check of typed or imported text
 * (text.h).
 */
#include <stdio.h>
#include <string.h>

#include "lienwatch/text.h"

char *lw_copy(char *dst, size_t dstlen, const char *src)
{
    size_t n;

    if (!dst || dstlen == 0)
        return dst;
    n = src ? strnlen(src, dstlen - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return dst;
}

size_t lw_utf8_next(const unsigned char *s, unsigned long *cp)
{
    size_t n, i;
    unsigned long v, min;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2, v = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3, v = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4, v = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

bool lw_text_ok(const char *s, size_t max_bytes, char *why, size_t whylen)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t n;

    if (strlen(s) > max_bytes) {
        snprintf(why, whylen, "is %zu bytes long, at most %zu are allowed",
                 strlen(s), max_bytes);
        return false;
    }
    while (*p) {
        n = lw_utf8_next(p, &cp);
        if (n == 0) {
            snprintf(why, whylen, "is not valid UTF-8 (byte %zu)",
                     (size_t)(p - (const unsigned char *)s) + 1);
            return false;
        }
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            snprintf(why, whylen, "contains a control character (byte %zu)",
                     (size_t)(p - (const unsigned char *)s) + 1);
            return false;
        }
        p += n;
    }
    return true;
}
