/*
 * text.c - bounded text copies (text.h).
 */
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
