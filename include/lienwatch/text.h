/*
 * text.h - bounded copies of text into the core's fixed-size string fields
 * (device ids, account ids, statuses: see fix.h and registry.h), and the
 * one check of text that people type or import (names, plates, reasons).
 */
#ifndef LIENWATCH_TEXT_H
#define LIENWATCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copies the NUL-terminated src (borrowed; NULL copies "") into dst
 * (dstlen bytes), truncating, always NUL-terminated when dstlen > 0.
 * Returns dst; dst NULL or dstlen 0 does nothing. For the per-message path,
 * where snprintf("%s") costs ten times as much.
 */
char *lw_copy(char *dst, size_t dstlen, const char *src);

/*
 * Decodes the UTF-8 sequence at s (NUL-terminated) into *cp; returns its
 * length, or 0 when it is not well-formed (overlong forms, surrogates and
 * values past U+10FFFF are not; a NUL inside the sequence ends it).
 */
size_t lw_utf8_next(const unsigned char *s, unsigned long *cp);

/*
 * True when s is valid UTF-8 without control characters (C0, DEL, C1) and
 * at most max_bytes long; otherwise why (whylen bytes) says what is wrong,
 * as the end of a sentence ("is not valid UTF-8 (byte 3)").
 */
bool lw_text_ok(const char *s, size_t max_bytes, char *why, size_t whylen);

#endif
