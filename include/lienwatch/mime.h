/*
 * mime.h - the pieces of an Internet message that lienwatch writes: RFC 5322
 * dates and addresses, RFC 2047 encoded words for non-ASCII header text and
 * quoted-printable (RFC 2045) bodies. Pure: no clock, no I/O.
 *
 * Text is UTF-8 throughout. Lines of the results end in CRLF, as SMTP wants
 * them on the wire; libcurl adds the dot-stuffing.
 */
#ifndef LIENWATCH_MIME_H
#define LIENWATCH_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"

/* Longest address (addr-spec) kept, without the NUL (RFC 5321: 254). */
#define LW_MIME_ADDR_MAX 254
/* Longest quoted-printable line, without CRLF (RFC 2045). */
#define LW_MIME_QP_LINE_MAX 76
/* Longest encoded word (RFC 2047). */
#define LW_MIME_WORD_MAX 75
/* Buffer size for lw_mime_date. */
#define LW_MIME_DATE_BUFLEN 40

/*
 * Formats ms (UTC ms since the epoch) as an RFC 5322 date-time in UTC:
 * "Mon, 23 Nov 2026 16:43:46 +0000". buf holds LW_MIME_DATE_BUFLEN bytes.
 * Returns buf.
 */
char *lw_mime_date(int64_t ms, char *buf, size_t len);

/*
 * Extracts the addr-spec of a mailbox: "ops@example.com" or
 * "Ops Desk <ops@example.com>" gives "ops@example.com" into out (len bytes,
 * LW_MIME_ADDR_MAX + 1 is enough). Checks it is local@domain, both parts
 * non-empty, without spaces, controls, quotes, brackets, commas or a
 * second '@'. Returns LW_OK, LW_ERR_INVAL (not an address) or LW_ERR_RANGE
 * (too long for out).
 */
enum lw_err lw_mime_addr_spec(const char *mailbox, char *out, size_t len);

/*
 * Splits a comma-separated list of mailboxes: copies the next item, trimmed,
 * into item (len bytes) and advances *p past it and its comma. Commas
 * inside double quotes ("Doe, Jane" <j@x>) do not split. Empty items are
 * skipped. Returns false at the end of the list. An item longer than len is
 * truncated (the address check then fails on it).
 */
bool lw_mime_list_next(const char **p, char *item, size_t len);

/* True when s holds bytes outside printable ASCII (tab allowed). */
bool lw_mime_needs_encoding(const char *s);

/*
 * Returns a complete header field "Name: value\r\n", owned by the caller
 * (free()); NULL when out of memory. A value in printable ASCII is written
 * as is, folded at spaces to keep lines near 78 characters (never leaving a
 * line of white space only); any other value, and one that holds "=?" (it
 * could pass for an encoded word), becomes RFC 2047 "B" encoded words
 * (=?UTF-8?B?...?=), each at most
 * LW_MIME_WORD_MAX long and never splitting a UTF-8 character, on folded
 * lines. CR and LF in value are replaced by spaces (no header injection).
 */
char *lw_mime_header(const char *name, const char *value);

/*
 * Returns "Name: mailbox\r\n" for an address header (From, To): the
 * display name of "Name <addr>" is RFC 2047 encoded when not ASCII (or when
 * it holds "=?"); a bare address is written as is. Owned by the caller; NULL when out of memory.
 */
char *lw_mime_mailbox_header(const char *name, const char *mailbox);

/*
 * Encodes text (UTF-8, lines ending in LF or CRLF) as quoted-printable:
 * '=', controls other than tab and every byte >= 0x7F become =XX, spaces
 * and tabs at the end of a line too; lines end in CRLF and are broken with
 * soft line breaks ("=" CRLF) so none is longer than LW_MIME_QP_LINE_MAX.
 * An encoded =XX is never split. Returns the text, owned by the caller;
 * NULL when out of memory.
 */
char *lw_mime_qp(const char *text);

/* Standard base64 (RFC 4648) of n bytes, no line breaks; caller frees. */
char *lw_mime_base64(const void *data, size_t n);

#endif
