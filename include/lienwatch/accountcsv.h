/*
 * accountcsv.h - the CSV file of loan accounts that loan servicing exports
 * and 'lienwatch account import' reads: parsed and checked, row by row.
 *
 * Format (RFC 4180 quoting): the first line is exactly
 *     account,days_past_due,status
 * (after an optional UTF-8 byte order mark, which spreadsheets write), then
 * one account per line. Fields may be "quoted", with "" for a quote inside;
 * spaces around an unquoted field are trimmed. Lines end in LF or CRLF;
 * blank lines (spaces and tabs only) are skipped. A row is good when it has
 * exactly three fields: an account id (1 to LW_ACCOUNT_MAX bytes), a whole
 * number of days past due (digits only, 0 to INT_MAX) and a status (at most
 * LW_STATUS_MAX bytes, may be empty), the texts valid UTF-8 without control
 * characters; and when no other row names the same account. A quoted field
 * does not span lines: a line break inside quotes is an unclosed quote.
 *
 * The whole text is checked: every bad row is reported (its 1-based line
 * number and what is wrong) and counted, good rows are kept in file order.
 * What to do with a file that has bad rows is the caller's decision (the
 * CLI imports nothing).
 *
 * Pure: text in, rows out; no I/O, no logging.
 */
#ifndef LIENWATCH_ACCOUNTCSV_H
#define LIENWATCH_ACCOUNTCSV_H

#include <stddef.h>

#include "lienwatch/decode.h"
#include "lienwatch/err.h"

/* The one header line an account file has. */
#define LW_ACCOUNTCSV_HEADER "account,days_past_due,status"

/* One good row. */
struct lw_accountcsv_row {
    struct lw_account_update a; /* account, days past due, status */
    long line;                  /* 1-based line in the text */
};

/* What a parse found. */
struct lw_accountcsv {
    struct lw_accountcsv_row *rows; /* good rows in file order; owned */
    size_t n;                       /* good rows */
    long bad;                       /* bad rows (each reported) */
    long lines;                     /* lines in the text */
};

/*
 * Called once per bad row, in line order except for repeated accounts
 * (reported after the pass, in account order); why is one line of text
 * (borrowed, valid during the call), ctx the caller's pointer.
 */
typedef void (*lw_accountcsv_bad_cb)(void *ctx, long line, const char *why);

/*
 * Parses len bytes of text (borrowed; need not be NUL-terminated; a NUL
 * byte in a line makes that row bad) into *out, which the caller releases
 * with lw_accountcsv_release (also after an error). bad (may be NULL) hears
 * of every bad row.
 * Returns LW_OK when the text is an account file, bad rows or not (see
 * out->bad); LW_ERR_INVAL for NULL arguments, an empty text or a first line
 * that is not the header (err says so, "line 1: ..."); LW_ERR_NOMEM.
 */
enum lw_err lw_accountcsv_parse(const char *text, size_t len,
                                struct lw_accountcsv *out,
                                lw_accountcsv_bad_cb bad, void *ctx, char *err,
                                size_t errlen);

/* Frees the rows and empties csv. NULL is a no-op. */
void lw_accountcsv_release(struct lw_accountcsv *csv);

#endif
