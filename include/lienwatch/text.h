/*
 * text.h - bounded copies of text into the core's fixed-size string fields
 * (device ids, account ids, statuses: see fix.h and registry.h).
 */
#ifndef LIENWATCH_TEXT_H
#define LIENWATCH_TEXT_H

#include <stddef.h>

/*
 * Copies the NUL-terminated src (borrowed; NULL copies "") into dst
 * (dstlen bytes), truncating, always NUL-terminated when dstlen > 0.
 * Returns dst; dst NULL or dstlen 0 does nothing. For the per-message path,
 * where snprintf("%s") costs ten times as much.
 */
char *lw_copy(char *dst, size_t dstlen, const char *src);

#endif
