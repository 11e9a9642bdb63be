/*
 * cmd_evidence.c - 'lienwatch evidence': a signed folder of what the
 * database holds about one vehicle over a time range, for a court, an
 * auditor or the borrower's lawyer; 'evidence keygen' and 'evidence verify'.
 *
 * A bundle (format 1) is a folder of files written once, then listed with
 * their SHA-256 in MANIFEST, which is signed with Ed25519 (libsodium,
 * crypto_sign_detached) into MANIFEST.sig; signing-key.pem is the public
 * key for openssl. The formats of MANIFEST and of the keys are the core's
 * (lienwatch/evidence.h); here are the files, the report and the checks.
 *
 * The export is an audit record ("evidence"), written before anything is
 * read: when it cannot be written, nothing is exported. Everything in the
 * bundle comes from one read snapshot taken after that record, so the
 * records and the head in the bundle include the export itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "lienwatch/alertjson.h"
#include "lienwatch/audit.h"
#include "lienwatch/config.h"
#include "lienwatch/evidence.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/tz.h"

/* lienwatchd's configuration file when --config does not name one. */
#define DAEMON_CONF "/etc/lienwatch/lienwatchd.conf"
/* The bundle's fixed file names. */
#define F_MANIFEST "MANIFEST"
#define F_SIG "MANIFEST.sig"
#define F_PEM "signing-key.pem"
/* Longest MANIFEST and MANIFEST.sig read, and a key file. */
#define MANIFEST_MAX (256 * 1024)
#define SMALL_FILE_MAX 4096
/* Most files a bundle writes. */
#define MAX_FILES LW_MANIFEST_MAX_FILES
/* Room for a path, a sentence, a local time. */
#define PATH_LEN 4096
#define ERR_LEN 512
#define LOCAL_LEN 64
#define SEC_PER_HOUR 3600
#define SEC_PER_MIN 60
#define MS_PER_S 1000
/* Read buffer for hashing files. */
#define HASH_CHUNK 65536
/* The longest reason kept. */
#define REASON_MAX 1024
/* Decimals of coordinates and measures in the report. */
#define COORD_DECIMALS 7
#define MEASURE_DECIMALS 1

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    lienwatch evidence VEHICLE --from T --to T --reason TEXT --out DIR\n"
    "    writes, into the new or empty folder DIR, what the database holds\n"
    "    about one vehicle over that time range, for a court, an auditor or\n"
    "    the borrower's lawyer:\n"
    "\n"
    "      vehicle.json      the vehicle as registered (device, VIN, plate,\n"
    "                        description, account) and its tracker (first\n"
    "                        and last heard, fixes stored)\n"
    "      account.json      the loan account (days past due, status), or\n"
    "                        null\n"
    "      history.csv, history.gpx, history.geojson, history.kml\n"
    "                        the fixes in the range, as 'lienwatch history'\n"
    "                        writes them\n"
    "      alerts.json       the alerts raised in the range\n"
    "      audit.json        every audit record about the device, this\n"
    "                        export included, each with its hash and the\n"
    "                        hash it chains to\n"
    "      report.html       all of it for a person to read: device, VIN,\n"
    "                        plate, each position with its time in UTC and\n"
    "                        in the time zone (--tz), its accuracy, when and\n"
    "                        how it was received; the alerts; the audit\n"
    "                        records; how to check the bundle\n"
    "      signing-key.pem   the public key, for openssl\n"
    "      MANIFEST          every file above with its SHA-256, the audit\n"
    "                        trail's head at export, the public key\n"
    "      MANIFEST.sig      the Ed25519 signature of MANIFEST\n"
    "\n"
    CLI_HELP_VEHICLE
    "\n"
    "    The export is recorded in the audit trail (action evidence, with\n"
    "    the reason, the range, the folder and the basis of access) before\n"
    "    anything is read; when the record cannot be written, nothing is\n"
    "    exported. A vehicle that is not watched (see 'lienwatch help\n"
    "    locate') is exported on the stated reason as an override, unless\n"
    "    [privacy] unwatched_access is 'deny' (exit 4). The\n"
    "    files are written mode 0600 in a folder of mode 0700.\n"
    "\n"
    "    lienwatch evidence keygen FILE writes a new Ed25519 secret key to\n"
    "    FILE (mode 0600; an existing FILE is never overwritten) and prints\n"
    "    its public key, alone, on stdout: publish it where those who check\n"
    "    bundles can find it.\n"
    "\n"
    "    lienwatch evidence verify DIR checks a bundle: the signature of\n"
    "    MANIFEST, then every file against its SHA-256, and that no file was\n"
    "    added. With --pubkey the signature is checked against that key;\n"
    "    without it, against the key the bundle carries, which only shows\n"
    "    that the bundle is as its signer left it (anyone can sign with a\n"
    "    key of their own), and the output says so. Without lienwatch:\n"
    "    'sha256sum -c MANIFEST' in DIR checks the files, and\n"
    "      base64 -d MANIFEST.sig > sig.bin\n"
    "      openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin \\\n"
    "          -in MANIFEST -sigfile sig.bin\n"
    "    the signature (with the lender's published key file for\n"
    "    signing-key.pem).\n"
    "\n"
    "OPTIONS\n"
    CLI_HELP_VEHICLE_OPTIONS
    "    --from T, --to T\n"
    "        The time range, both required: an ISO 8601 time\n"
    "        (2026-11-23T16:43:46Z; without a zone it is UTC), a date\n"
    "        (2026-11-23: from midnight UTC; as --to, to the end of that\n"
    "        day), or a duration back from now (90s, 15m, 6h, 2d).\n"
    "    -r, --reason TEXT\n"
    "        Why the bundle is made (a court order, a request's number):\n"
    "        required, recorded in the audit trail and in the report.\n"
    "    -o, --out DIR\n"
    "        The folder to write: created when missing; refused when it\n"
    "        exists and is not empty.\n"
    "    -k, --key FILE\n"
    "        The secret key that signs (written by evidence keygen).\n"
    "        Default: [privacy] signing_key_file of lienwatchd's\n"
    "        configuration file.\n"
    "    --config FILE\n"
    "        lienwatchd's configuration file, for signing_key_file. Default:\n"
    "        " DAEMON_CONF " when it exists.\n"
    "    --tz ZONE\n"
    "        The time zone of the report's local times, an IANA name\n"
    "        (America/Sao_Paulo). Default: the machine's (/etc/localtime).\n"
    "    --pubkey KEY\n"
    "        (verify) The public key as keygen printed it, or a file holding\n"
    "        it (or a PEM public key file).\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 the bundle was written, the key made, or the bundle verified;\n"
    "    1 a runtime failure (database, key, a file that cannot be written,\n"
    "    the audit record not written), or verify found a difference;\n"
    "    2 bad options, DIR not empty, FILE exists, or VEHICLE names\n"
    "    several vehicles; 3 no such device, plate or VIN; 4 refused: the\n"
    "    vehicle is not watched and unwatched_access is 'deny'.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch evidence keygen /etc/lienwatch/evidence.key > evidence.pub\n"
    "    lienwatch evidence 'B-LW 123' --from 2026-11-01 --to 2026-11-30 \\\n"
    "        --reason 'court order 2026/1187' --out /srv/evidence/case-1187\n"
    "    lienwatch evidence verify /srv/evidence/case-1187 \\\n"
    "        --pubkey \"$(cat evidence.pub)\"\n";
/* clang-format on */

static int cmd_evidence(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_evidence = {
    .name = "evidence",
    .run = cmd_evidence,
    .synopsis = CLI_VEHICLE_SYNOPSIS
    " --from T --to T\n"
    "        --reason TEXT --out DIR [--key FILE] [--tz ZONE]\n"
    "    lienwatch evidence keygen FILE\n"
    "    lienwatch evidence verify DIR [--pubkey KEY]",
    .summary = "a signed evidence bundle of a vehicle; keygen, verify",
    .help = help,
};

/* An export under way. */
struct bundle {
    struct cli *c;               /* the command's state */
    const char *cmd;             /* "evidence", for messages */
    const char *dir;             /* the folder, as given */
    int dirfd;                   /* the folder, open */
    struct lw_vehicle_match m;   /* the vehicle */
    bool has_account;            /* acct holds its account */
    struct lw_account acct;      /* that account */
    bool heard;                  /* dev holds its tracker */
    struct lw_device_info dev;   /* that tracker */
    int64_t from_ms, to_ms;      /* the range */
    const char *reason;          /* why (required) */
    struct lw_tz *tz;            /* local times; NULL: UTC */
    char tz_note[ERR_LEN + 128]; /* why UTC, when the zone failed */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES]; /* the signer's key */
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* ... and its secret */
    char pk_b64[LW_EVIDENCE_PK_B64];              /* pk as base64 */
    struct lw_audit_head rec;  /* the export's audit record */
    struct lw_audit_head head; /* the trail's head at export */
    struct lw_manifest man;    /* the files written so far */
    /* what the history held */
    int64_t nfix;              /* fixes in the range */
    int64_t first_ms, last_ms; /* first and last fix time */
    int64_t with_accuracy;     /* fixes with an accuracy */
    double acc_min, acc_max;   /* their range, m */
    int64_t max_delay_ms;      /* longest fix-to-receive delay */
    int64_t nalerts;           /* alerts in the range */
    int64_t naudit;            /* audit records of the device */
    bool failed;               /* an output failed */
};

/* ---- keys ------------------------------------------------------------------
 */

/* Reads at most max bytes of path (through dirfd when >= 0) into a new
 * NUL-terminated buffer; NULL with why on failure. *len gets the size. */
static char *read_small(int dirfd, const char *path, size_t max, size_t *len,
                        char *why, size_t whylen)
{
    int fd = dirfd >= 0 ? openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                        : open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t n = 0;
    ssize_t r;

    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    buf = malloc(max + 1);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    while ((r = read(fd, buf + n, max + 1 - n)) > 0)
        n += (size_t)r;
    if (r < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        goto fail;
    }
    if (n > max) {
        snprintf(why, whylen, "larger than %zu bytes", max);
        goto fail;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* Loads the secret key file path into b (pk, sk, pk_b64). Prints why and
 * returns false on failure. */
static bool load_key(struct bundle *b, const char *path)
{
    char why[ERR_LEN];
    struct stat st;
    size_t len = 0;
    char *text;
    enum lw_err e;

    text = read_small(-1, path, SMALL_FILE_MAX, &len, why, sizeof(why));
    if (!text) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "cannot read the signing key %s: %s",
                  path, why);
        return false;
    }
    e = lw_evidence_sk_parse(text, len, b->sk, b->pk);
    sodium_memzero(text, len);
    free(text);
    if (e != LW_OK) {
        cli_error(b->cmd, CLI_EXIT_FAIL,
                  "%s is not a signing key ('lienwatch evidence keygen' "
                  "writes one)",
                  path);
        return false;
    }
    if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
        fprintf(stderr,
                "lienwatch %s: warning: the signing key %s can be read by "
                "others than its owner (chmod 600 it)\n",
                b->cmd, path);
    lw_evidence_pk_b64(b->pk, b->pk_b64);
    return true;
}

/* The key file to use: --key, else [privacy] signing_key_file of the
 * configuration (--config, or DAEMON_CONF when it exists), into out.
 * Prints why and returns false when there is none. */
static bool key_path(const char *cmd, const char *key, const char *config,
                     char *out, size_t len)
{
    struct lw_config *cfg;
    const char *file = config ? config : DAEMON_CONF;
    char err[ERR_LEN] = "";
    enum lw_err e;
    bool ok = false;

    if (key) {
        snprintf(out, len, "%s", key);
        return true;
    }
    cfg = malloc(sizeof(*cfg));
    if (!cfg) {
        cli_error(cmd, CLI_EXIT_FAIL, "out of memory");
        return false;
    }
    lw_config_defaults(cfg);
    if (!config && access(file, F_OK) != 0 && errno == ENOENT) {
        cli_error(cmd, CLI_EXIT_FAIL,
                  "no signing key: give --key FILE, or set [privacy] "
                  "signing_key_file in %s ('lienwatch evidence keygen FILE' "
                  "writes a key)",
                  file);
        goto out;
    }
    e = lw_config_load(cfg, file, err, sizeof(err));
    if (e != LW_OK) {
        cli_error(cmd, CLI_EXIT_FAIL, "%s", err[0] ? err : lw_strerror(e));
        goto out;
    }
    if (!cfg->privacy_signing_key_file[0]) {
        cli_error(cmd, CLI_EXIT_FAIL,
                  "no signing key: give --key FILE, or set [privacy] "
                  "signing_key_file in %s",
                  file);
        goto out;
    }
    snprintf(out, len, "%s", cfg->privacy_signing_key_file);
    ok = true;
out:
    free(cfg);
    return ok;
}

static int run_keygen(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    const struct cli_command *me = &cli_cmd_evidence;
    const char *cmd = "evidence keygen";
    unsigned char pk[LW_EVIDENCE_PK_BYTES], sk[LW_EVIDENCE_SK_BYTES];
    char text[LW_EVIDENCE_SK_FILE_LEN], pk_b64[LW_EVIDENCE_PK_B64];
    const char *path;
    size_t len;
    int opt, rc, fd;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error(me, "evidence keygen takes one FILE");
    path = argv[optind];
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              S_IRUSR | S_IWUSR);
    if (fd < 0 && errno == EEXIST)
        return cli_error(cmd, CLI_EXIT_USAGE,
                         "%s exists: a signing key is never overwritten "
                         "(remove it first if you mean to replace it)",
                         path);
    if (fd < 0)
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot create %s: %s", path,
                         strerror(errno));
    crypto_sign_keypair(pk, sk);
    lw_evidence_sk_file(sk, text);
    lw_evidence_pk_b64(pk, pk_b64);
    len = strlen(text);
    /* whatever the umask: the owner alone */
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 ||
        write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot write %s: %s", path,
                       strerror(errno));
        close(fd);
        unlink(path);
        goto out;
    }
    if (close(fd) != 0) {
        rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot write %s: %s", path,
                       strerror(errno));
        unlink(path);
        goto out;
    }
    printf("%s\n", pk_b64);
    rc = CLI_EXIT_OK;
out:
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(text, sizeof(text));
    return rc;
}

/* ---- writing a bundle ------------------------------------------------------
 */

/* Opens name in the bundle's folder for writing (new, mode 0600). */
static FILE *bundle_open(struct bundle *b, const char *name)
{
    int fd = openat(b->dirfd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    S_IRUSR | S_IWUSR);
    FILE *f;

    if (fd < 0) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "cannot create %s/%s: %s", b->dir,
                  name, strerror(errno));
        return NULL;
    }
    f = fdopen(fd, "w");
    if (!f) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "%s/%s: %s", b->dir, name,
                  strerror(errno));
        close(fd);
    }
    return f;
}

/* SHA-256 of the file name in dirfd, hex, into out; false with why. */
static bool sha256_file(int dirfd, const char *name, char *out, char *why,
                        size_t whylen)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    unsigned char *buf;
    ssize_t r;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return false;
    }
    buf = malloc(HASH_CHUNK);
    if (!buf) {
        close(fd);
        snprintf(why, whylen, "out of memory");
        return false;
    }
    crypto_hash_sha256_init(&st);
    while ((r = read(fd, buf, HASH_CHUNK)) > 0)
        crypto_hash_sha256_update(&st, buf, (unsigned long long)r);
    free(buf);
    close(fd);
    if (r < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return false;
    }
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, LW_AUDIT_HASH_HEX + 1, h, sizeof(h));
    return true;
}

/* Closes f (written as name, made durable) and lists it with its hash.
 * False after a message. */
static bool bundle_close(struct bundle *b, FILE *f, const char *name)
{
    char why[ERR_LEN];
    bool ok = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;

    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "cannot write %s/%s: %s", b->dir, name,
                  strerror(err));
        return false;
    }
    if (b->man.nfiles == MAX_FILES)
        return false;
    snprintf(b->man.files[b->man.nfiles].name, sizeof(b->man.files[0].name),
             "%s", name);
    if (!sha256_file(b->dirfd, name, b->man.files[b->man.nfiles].sha256, why,
                     sizeof(why))) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "cannot read back %s/%s: %s", b->dir,
                  name, why);
        return false;
    }
    b->man.nfiles++;
    return true;
}

/* Writes JSON j (reference taken) to the file name. */
static bool write_json_file(struct bundle *b, const char *name, json_t *j)
{
    FILE *f;
    bool ok;

    if (!j) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "out of memory");
        return false;
    }
    f = bundle_open(b, name);
    if (!f) {
        json_decref(j);
        return false;
    }
    ok = json_dumpf(j, f, JSON_INDENT(2) | CLI_JSON_REAL) == 0 &&
         fputc('\n', f) != EOF;
    json_decref(j);
    return bundle_close(b, f, name) && ok;
}

/* A time as ISO 8601 UTC, or "-" for 0 (static buffer of the caller). */
static const char *utc(int64_t ms, char *buf)
{
    return cli_time(ms, buf);
}

/* A time in the report's zone: "2026-11-23 13:43:46 -03:00". */
static const char *local(const struct bundle *b, int64_t ms, char *buf,
                         size_t len)
{
    struct lw_tz_local l;
    int32_t off;
    char sign = '+';

    if (ms == 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    lw_tz_localtime(b->tz, ms, &l);
    off = l.utoff_s;
    if (off < 0) {
        sign = '-';
        off = -off;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d %c%02d:%02d", l.year,
             l.month, l.day, l.hour, l.min, l.sec, sign,
             (int)(off / SEC_PER_HOUR),
             (int)(off % SEC_PER_HOUR / SEC_PER_MIN));
    return buf;
}

static bool write_vehicle(struct bundle *b)
{
    const struct lw_vehicle *v = &b->m.v;
    json_t *tracker =
        b->heard ? json_pack("{s:o, s:o, s:o, s:I}", "first_heard",
                             cli_json_time(b->dev.first_heard_ms), "last_heard",
                             cli_json_time(b->dev.last_heard_ms), "last_fix",
                             cli_json_time(b->dev.last_fix_ms), "fixes_stored",
                             (json_int_t)b->dev.fixes)
                 : json_null();
    json_t *j = json_pack(
        "{s:s, s:b, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "device",
        v->device, "registered", b->m.registered, "vin",
        lw_json_str_or_null(v->vin), "plate", lw_json_str_or_null(v->plate),
        "description", lw_json_str_or_null(v->description), "account",
        lw_json_str_or_null(v->account), "offline_after_s",
        (json_int_t)(v->offline_after_ms / MS_PER_S), "registered_at",
        cli_json_time(v->registered_ms), "updated_at",
        cli_json_time(v->updated_ms), "tracker", tracker);

    return write_json_file(b, "vehicle.json", j);
}

static bool write_account(struct bundle *b)
{
    json_t *j =
        b->has_account
            ? json_pack("{s:s, s:i, s:o, s:o, s:o}", "account", b->acct.account,
                        "days_past_due", b->acct.days_past_due, "status",
                        lw_json_str_or_null(b->acct.status), "updated_at",
                        cli_json_time(b->acct.updated_ms), "source",
                        lw_json_str_or_null(b->acct.source))
            : json_null();

    return write_json_file(b, "account.json", j);
}

/* The four history files in one pass over the range. */
struct pass1 {
    struct bundle *b;      /* the export */
    struct cli_track t[4]; /* csv, gpx, geojson, kml */
};

static int pass1_fix(void *ctx, const struct lw_fix *f)
{
    struct pass1 *p = ctx;
    struct bundle *b = p->b;
    int i;

    for (i = 0; i < 4; i++)
        if (cli_track_fix(&p->t[i], f))
            return 1;
    if (b->nfix == 0)
        b->first_ms = f->fix_time_ms;
    b->last_ms = f->fix_time_ms;
    b->nfix++;
    if (lw_has(f->accuracy_m)) {
        if (!b->with_accuracy || f->accuracy_m < b->acc_min)
            b->acc_min = f->accuracy_m;
        if (!b->with_accuracy || f->accuracy_m > b->acc_max)
            b->acc_max = f->accuracy_m;
        b->with_accuracy++;
    }
    if (f->recv_time_ms - f->fix_time_ms > b->max_delay_ms)
        b->max_delay_ms = f->recv_time_ms - f->fix_time_ms;
    return 0;
}

static bool write_history(struct bundle *b, struct lw_store *s)
{
    static const struct {
        const char *name;          /* file */
        enum cli_track_format fmt; /* format */
    } out[4] = {
        {"history.csv", CLI_TRACK_CSV},
        {"history.gpx", CLI_TRACK_GPX},
        {"history.geojson", CLI_TRACK_GEOJSON},
        {"history.kml", CLI_TRACK_KML},
    };
    struct pass1 p = {.b = b};
    FILE *f[4] = {0};
    bool ok = true;
    enum lw_err e;
    int i, n = 0;

    for (i = 0; i < 4 && ok; i++, n++) {
        f[i] = bundle_open(b, out[i].name);
        ok = f[i] &&
             cli_track_begin(&p.t[i], f[i], out[i].fmt, &b->m, b->c->now_ms);
    }
    if (ok) {
        e = lw_store_history(s, b->m.v.device, b->from_ms, b->to_ms, pass1_fix,
                             &p);
        if (e != LW_OK) {
            cli_db_error(b->cmd, s, e);
            ok = false;
        }
    }
    for (i = 0; i < n; i++) {
        if (!f[i])
            continue;
        if (ok) {
            if (!cli_track_end(&p.t[i])) {
                cli_error(b->cmd, CLI_EXIT_FAIL, "cannot write %s/%s", b->dir,
                          out[i].name);
                ok = false;
            }
        } else {
            cli_track_release(&p.t[i]);
        }
        if (!bundle_close(b, f[i], out[i].name))
            ok = false;
    }
    return ok;
}

/* Collects the alerts of the range into a JSON array. */
struct alert_collect {
    struct bundle *b; /* the export */
    json_t *a;        /* the array */
    bool oom;         /* a JSON object could not be made */
};

static int collect_alert(void *ctx, const struct lw_alert_row *r)
{
    struct alert_collect *ac = ctx;
    const struct bundle *b = ac->b;
    json_t *j;

    if (r->a.raised_ms < b->from_ms || r->a.raised_ms > b->to_ms)
        return 0;
    j = lw_alert_to_json(r, b->m.registered ? &b->m.v : NULL,
                         b->has_account ? &b->acct : NULL);
    if (!j || json_array_append_new(ac->a, j) != 0) {
        ac->oom = true;
        return 1;
    }
    return 0;
}

static bool write_alerts(struct bundle *b, struct lw_store *s, json_t **out)
{
    struct lw_alert_filter f = {.device = b->m.v.device};
    struct alert_collect ac = {.b = b, .a = json_array()};
    enum lw_err e;

    if (!ac.a)
        return cli_error(b->cmd, CLI_EXIT_FAIL, "out of memory"), false;
    e = lw_registry_alerts(s, &f, collect_alert, &ac);
    if (e != LW_OK || ac.oom) {
        json_decref(ac.a);
        if (e != LW_OK)
            cli_db_error(b->cmd, s, e);
        else
            cli_error(b->cmd, CLI_EXIT_FAIL, "out of memory");
        return false;
    }
    b->nalerts = (int64_t)json_array_size(ac.a);
    *out = json_incref(ac.a);
    return write_json_file(b, "alerts.json", ac.a);
}

/* The audit records of the device as JSON objects. */
static json_t *audit_json(const struct lw_audit_entry *a)
{
    return json_pack(
        "{s:I, s:o, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, "
        "s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s}",
        "id", (json_int_t)a->id, "time", cli_json_time(a->at_ms), "who", a->who,
        "as", a->as_name, "os_detail", a->os_detail, "via", a->via, "role",
        a->role, "client", a->client, "action", a->action, "device", a->device,
        "case_id", a->case_id, "basis", a->basis, "reason", a->reason, "detail",
        a->detail, "hash", a->hash, "prev_hash", a->prev_hash);
}

struct audit_collect {
    json_t *a; /* the array */
    bool oom;  /* an object could not be made */
};

static int collect_audit(void *ctx, const struct lw_audit_entry *a)
{
    struct audit_collect *ac = ctx;
    json_t *j = audit_json(a);

    if (!j || json_array_append_new(ac->a, j) != 0) {
        ac->oom = true;
        return 1;
    }
    return 0;
}

static bool write_audit(struct bundle *b, struct lw_store *s, json_t **out)
{
    struct audit_collect ac = {.a = json_array()};
    enum lw_err e;

    if (!ac.a)
        return cli_error(b->cmd, CLI_EXIT_FAIL, "out of memory"), false;
    e = lw_audit_list(s, b->m.v.device, collect_audit, &ac);
    if (e != LW_OK || ac.oom) {
        json_decref(ac.a);
        if (e != LW_OK)
            cli_db_error(b->cmd, s, e);
        else
            cli_error(b->cmd, CLI_EXIT_FAIL, "out of memory");
        return false;
    }
    b->naudit = (int64_t)json_array_size(ac.a);
    *out = json_incref(ac.a);
    return write_json_file(b, "audit.json", ac.a);
}

/* ---- report.html -----------------------------------------------------------
 */

/* Writes "<tr><th>label</th><td>value</td></tr>" with value escaped. */
static void kv(FILE *f, const char *label, const char *value)
{
    fprintf(f, "<tr><th>%s</th><td>", label);
    cli_html_escape(f, value && value[0] ? value : "-");
    fputs("</td></tr>\n", f);
}

/* A time in both forms as a table row. */
static void kv_time(FILE *f, const struct bundle *b, const char *label,
                    int64_t ms)
{
    char u[LW_TIME_BUFLEN], l[LOCAL_LEN], both[LW_TIME_BUFLEN + LOCAL_LEN + 8];

    if (ms == 0) {
        kv(f, label, "-");
        return;
    }
    snprintf(both, sizeof(both), "%s (%s)", utc(ms, u),
             local(b, ms, l, sizeof(l)));
    kv(f, label, both);
}

/* Writes text escaped inside a <td>. */
static void td(FILE *f, const char *s)
{
    fputs("<td>", f);
    cli_html_escape(f, s && s[0] ? s : "-");
    fputs("</td>", f);
}

/* The positions table: pass 2 over the same snapshot. */
struct pass2 {
    const struct bundle *b; /* the export */
    FILE *f;                /* report.html */
    int64_t n;              /* rows written */
};

static int pass2_fix(void *ctx, const struct lw_fix *x)
{
    struct pass2 *p = ctx;
    char u[LW_TIME_BUFLEN], l[LOCAL_LEN], r[LW_TIME_BUFLEN];
    char la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN], ac[CLI_NUM_BUFLEN];
    char sp[CLI_NUM_BUFLEN], co[CLI_NUM_BUFLEN], dl[CLI_AGE_BUFLEN];
    char trig[2] = {x->trigger, '\0'};
    char delay[LW_TIME_BUFLEN];

    p->n++;
    lw_duration_format(x->recv_time_ms - x->fix_time_ms, delay, sizeof(delay));
    snprintf(dl, sizeof(dl), "%s%s",
             x->recv_time_ms < x->fix_time_ms ? "-" : "", delay);
    fprintf(p->f, "<tr><td>%lld</td>", (long long)p->n);
    td(p->f, utc(x->fix_time_ms, u));
    td(p->f, local(p->b, x->fix_time_ms, l, sizeof(l)));
    td(p->f, cli_num(x->lat_deg, COORD_DECIMALS, la));
    td(p->f, cli_num(x->lon_deg, COORD_DECIMALS, lo));
    td(p->f, cli_num(x->accuracy_m, MEASURE_DECIMALS, ac));
    td(p->f, cli_num(x->speed_mps, MEASURE_DECIMALS, sp));
    td(p->f, cli_num(x->course_deg, MEASURE_DECIMALS, co));
    td(p->f, utc(x->recv_time_ms, r));
    td(p->f, dl);
    td(p->f, x->trigger ? trig : NULL);
    fputs("</tr>\n", p->f);
    return ferror(p->f) ? 1 : 0;
}

static const char report_style[] =
    "body{font-family:sans-serif;margin:2em;color:#000}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #999;padding:2px 6px;text-align:left;"
    "vertical-align:top;font-size:90%}"
    "th{background:#eee}td.mono,code{font-family:monospace;"
    "word-break:break-all}"
    "@media print{body{margin:0}}";

static void report_head(FILE *f, const struct bundle *b)
{
    char label[LW_PLATE_MAX + LW_DESCRIPTION_MAX + LW_DEVICE_MAX + 8];

    cli_vehicle_label(&b->m, label, sizeof(label));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\"/>\n<title>Evidence: ",
          f);
    cli_html_escape(f, label);
    fprintf(f,
            "</title>\n<style>%s</style>\n</head>\n<body>\n"
            "<h1>Location evidence: ",
            report_style);
    cli_html_escape(f, label);
    fputs("</h1>\n", f);
}

static void report_export(FILE *f, const struct bundle *b)
{
    char t[LOCAL_LEN * 2 + 8], u1[LW_TIME_BUFLEN], u2[LW_TIME_BUFLEN];
    char l1[LOCAL_LEN], l2[LOCAL_LEN], rec[LW_AUDIT_HASH_HEX + 32];
    char zone[LW_TZ_NAME_MAX + ERR_LEN + 136];

    fputs("<h2>This export</h2>\n<table>\n", f);
    kv_time(f, b, "Created", b->c->now_ms);
    kv(f, "Exported by (operating-system account)", b->c->who);
    kv(f, "Name given (--as, not verified)", b->c->as_name);
    kv(f, "More from the operating system", b->c->os_detail);
    kv(f, "Reason", b->reason);
    snprintf(t, sizeof(t), "%s to %s", utc(b->from_ms, u1), utc(b->to_ms, u2));
    kv(f, "Range (UTC)", t);
    snprintf(t, sizeof(t), "%s to %s", local(b, b->from_ms, l1, sizeof(l1)),
             local(b, b->to_ms, l2, sizeof(l2)));
    kv(f, "Range (local)", t);
    snprintf(zone, sizeof(zone), "%s%s%s", lw_tz_name(b->tz),
             b->tz_note[0] ? ": " : "", b->tz_note);
    kv(f, "Local time zone", zone);
    snprintf(rec, sizeof(rec), "%lld:%s", (long long)b->rec.id, b->rec.hash);
    kv(f, "Audit record of this export", rec);
    snprintf(rec, sizeof(rec), "%lld:%s", (long long)b->head.id, b->head.hash);
    kv(f, "Audit trail head at export", rec);
    kv(f, "Signing key (Ed25519, base64)", b->pk_b64);
    fputs("</table>\n", f);
}

static void report_vehicle(FILE *f, const struct bundle *b)
{
    const struct lw_vehicle *v = &b->m.v;
    char n[CLI_NUM_BUFLEN];

    fputs("<h2>Vehicle and account</h2>\n<table>\n", f);
    kv(f, "Device (tracker id)", v->device);
    kv(f, "Registered in lienwatch", b->m.registered ? "yes" : "no");
    kv(f, "VIN", v->vin);
    kv(f, "Plate", v->plate);
    kv(f, "Description", v->description);
    kv(f, "Account", v->account);
    if (b->has_account) {
        snprintf(n, sizeof(n), "%d", b->acct.days_past_due);
        kv(f, "Days past due (at export)", n);
        kv(f, "Account status (at export)", b->acct.status);
        kv_time(f, b, "Account last updated", b->acct.updated_ms);
    }
    if (b->heard) {
        kv_time(f, b, "Tracker first heard", b->dev.first_heard_ms);
        kv_time(f, b, "Tracker last heard", b->dev.last_heard_ms);
    } else {
        kv(f, "Tracker", "never heard");
    }
    fputs("</table>\n", f);
}

static void report_received(FILE *f, const struct bundle *b)
{
    char a1[CLI_NUM_BUFLEN], a2[CLI_NUM_BUFLEN], n[CLI_NUM_BUFLEN * 3];
    char d[LW_TIME_BUFLEN];

    fputs("<h2>How the data was received</h2>\n<p>Each position was "
          "determined by the tracker in the vehicle (satellite positioning, "
          "WGS-84 latitude and longitude in degrees) and sent by it over "
          "MQTT with QoS 1 (acknowledged delivery) to the lender's message "
          "broker: as OwnTracks JSON from a tracker application, or as gpsd "
          "TPV reports relayed by lw-gpsbridge from a gpsd receiver in the "
          "vehicle. lienwatchd stored each report in its SQLite database "
          "with two times: the <em>fix time</em>, from the device's clock "
          "when the position was taken, and the <em>received time</em>, "
          "from the server's clock when the report arrived. Reports held "
          "by the device while it had no connection arrive later, with "
          "their original fix times. A report whose fix time was more than "
          "the configured tolerance in the future was rejected; a report "
          "repeated by the network was stored once. <em>Accuracy</em> is "
          "the horizontal accuracy the device stated, in metres; the true "
          "position was probably within that distance. The trigger is the "
          "reason an OwnTracks device gave for the report (p: ping, t: "
          "timer, u: manual, c: region, ...).</p>\n<table>\n",
          f);
    snprintf(n, sizeof(n), "%lld", (long long)b->nfix);
    kv(f, "Positions in the range", n);
    kv_time(f, b, "First position", b->nfix ? b->first_ms : 0);
    kv_time(f, b, "Last position", b->nfix ? b->last_ms : 0);
    if (b->with_accuracy) {
        snprintf(n, sizeof(n), "%lld of %lld positions; %s m to %s m",
                 (long long)b->with_accuracy, (long long)b->nfix,
                 cli_num(b->acc_min, MEASURE_DECIMALS, a1),
                 cli_num(b->acc_max, MEASURE_DECIMALS, a2));
        kv(f, "Accuracy stated", n);
    } else {
        kv(f, "Accuracy stated", "none");
    }
    if (b->nfix) {
        lw_duration_format(b->max_delay_ms, d, sizeof(d));
        kv(f, "Longest delay from fix to receipt", d);
    }
    fputs("</table>\n", f);
}

static void report_alerts(FILE *f, json_t *alerts)
{
    size_t i;
    json_t *a;

    fputs("<h2>Alerts raised in the range</h2>\n", f);
    if (json_array_size(alerts) == 0) {
        fputs("<p>None.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th>Id</th><th>Kind</th><th>Raised (UTC)</th>"
          "<th>Geofence</th><th>State</th><th>Acknowledged by</th>"
          "<th>Note</th><th>Closed (UTC)</th></tr>\n",
          f);
    json_array_foreach(alerts, i, a)
    {
        fprintf(f, "<tr><td>%lld</td>",
                (long long)json_integer_value(json_object_get(a, "id")));
        td(f, json_string_value(json_object_get(a, "kind")));
        td(f, json_string_value(json_object_get(a, "opened_at")));
        td(f, json_string_value(json_object_get(a, "geofence")));
        td(f, json_string_value(json_object_get(a, "state")));
        td(f, json_string_value(json_object_get(a, "acknowledged_by")));
        td(f, json_string_value(json_object_get(a, "note")));
        td(f, json_string_value(json_object_get(a, "closed_at")));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void report_audit(FILE *f, json_t *audit)
{
    size_t i;
    json_t *a;

    fputs("<h2>Who looked at or changed this vehicle</h2>\n<p>Every record "
          "of the lender's audit trail about this device, this export "
          "included. Each record carries the SHA-256 of its content chained "
          "to the record before it (audit.json has both hashes, so each "
          "record can be checked alone; 'lienwatch audit verify' checks the "
          "whole trail).</p>\n",
          f);
    fputs("<table>\n<tr><th>Id</th><th>Time (UTC)</th><th>Who</th>"
          "<th>Name given</th><th>Action</th><th>Reason</th><th>Basis</th>"
          "<th>Detail</th><th>Hash</th></tr>\n",
          f);
    json_array_foreach(audit, i, a)
    {
        fprintf(f, "<tr><td>%lld</td>",
                (long long)json_integer_value(json_object_get(a, "id")));
        td(f, json_string_value(json_object_get(a, "time")));
        td(f, json_string_value(json_object_get(a, "who")));
        td(f, json_string_value(json_object_get(a, "as")));
        td(f, json_string_value(json_object_get(a, "action")));
        td(f, json_string_value(json_object_get(a, "reason")));
        td(f, json_string_value(json_object_get(a, "basis")));
        td(f, json_string_value(json_object_get(a, "detail")));
        fputs("<td class=\"mono\">", f);
        cli_html_escape(f, json_string_value(json_object_get(a, "hash")));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void report_files(FILE *f, const struct bundle *b)
{
    int i;

    fputs("<h2>Files and how to check them</h2>\n<p>MANIFEST lists every "
          "file of this folder with its SHA-256 and is signed with the "
          "lender's Ed25519 key (MANIFEST.sig). To check the folder: "
          "<code>lienwatch evidence verify FOLDER --pubkey KEY</code> with "
          "the lender's published public key; or <code>sha256sum -c "
          "MANIFEST</code> in the folder and <code>base64 -d MANIFEST.sig "
          "&gt; sig.bin; openssl pkeyutl -verify -pubin -inkey "
          "signing-key.pem -rawin -in MANIFEST -sigfile sig.bin</code>. The "
          "audit head above can be compared with the heads lienwatchd "
          "published: <code>lienwatch audit verify --head ID:HASH</code>."
          "</p>\n<table>\n<tr><th>File</th><th>SHA-256</th></tr>\n",
          f);
    for (i = 0; i < b->man.nfiles; i++) {
        fputs("<tr>", f);
        td(f, b->man.files[i].name);
        fprintf(f, "<td class=\"mono\">%s</td></tr>\n", b->man.files[i].sha256);
    }
    fputs("<tr><td>report.html</td><td>this page: see MANIFEST</td></tr>\n"
          "</table>\n",
          f);
}

static bool write_report(struct bundle *b, struct lw_store *s, json_t *alerts,
                         json_t *audit)
{
    struct pass2 p = {.b = b};
    FILE *f = bundle_open(b, "report.html");
    enum lw_err e;
    bool ok = true;

    if (!f)
        return false;
    p.f = f;
    report_head(f, b);
    report_export(f, b);
    report_vehicle(f, b);
    report_received(f, b);
    fputs("<h2>Positions</h2>\n", f);
    if (b->nfix) {
        fputs("<table>\n<tr><th>#</th><th>Fix time (UTC)</th>"
              "<th>Fix time (local)</th><th>Latitude</th><th>Longitude</th>"
              "<th>Accuracy (m)</th><th>Speed (m/s)</th><th>Course "
              "(&#176;)</th><th>Received (UTC)</th><th>Delay</th>"
              "<th>Trigger</th></tr>\n",
              f);
        e = lw_store_history(s, b->m.v.device, b->from_ms, b->to_ms, pass2_fix,
                             &p);
        if (e != LW_OK) {
            cli_db_error(b->cmd, s, e);
            ok = false;
        }
        fputs("</table>\n", f);
    } else {
        fputs("<p>No position was stored for this device in the "
              "range.</p>\n",
              f);
    }
    report_alerts(f, alerts);
    report_audit(f, audit);
    report_files(f, b);
    fputs("</body>\n</html>\n", f);
    return bundle_close(b, f, "report.html") && ok;
}

/* signing-key.pem: the public key for openssl. */
static bool write_pem(struct bundle *b)
{
    char pem[LW_EVIDENCE_PEM_LEN];
    FILE *f = bundle_open(b, F_PEM);

    if (!f)
        return false;
    lw_evidence_pk_pem(b->pk, pem);
    fputs(pem, f);
    return bundle_close(b, f, F_PEM);
}

/* MANIFEST and MANIFEST.sig. */
static bool write_manifest(struct bundle *b)
{
    unsigned char sig[LW_EVIDENCE_SIG_BYTES];
    char sig_b64[LW_EVIDENCE_SIG_B64];
    struct lw_manifest *m = &b->man;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    bool ok;

    cli_time(b->c->now_ms, m->created);
    snprintf(m->device, sizeof(m->device), "%s", b->m.v.device);
    cli_time(b->from_ms, m->from);
    cli_time(b->to_ms, m->to);
    snprintf(m->record, sizeof(m->record), "%lld:%s", (long long)b->rec.id,
             b->rec.hash);
    snprintf(m->head, sizeof(m->head), "%lld:%s", (long long)b->head.id,
             b->head.hash);
    snprintf(m->key, sizeof(m->key), "%s", b->pk_b64);
    if (lw_manifest_format(m, &text, &len) != LW_OK)
        return cli_error(b->cmd, CLI_EXIT_FAIL, "cannot compose MANIFEST"),
               false;
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, len, b->sk);
    sodium_bin2base64(sig_b64, sizeof(sig_b64), sig, sizeof(sig),
                      sodium_base64_VARIANT_ORIGINAL);
    /* MANIFEST lists the others, not itself: written past its own list */
    f = bundle_open(b, F_MANIFEST);
    ok = f && fwrite(text, 1, len, f) == len;
    if (f)
        ok = bundle_close(b, f, F_MANIFEST) && ok;
    free(text);
    if (!ok)
        return false;
    f = bundle_open(b, F_SIG);
    if (!f)
        return false;
    fprintf(f, "%s\n", sig_b64);
    return bundle_close(b, f, F_SIG);
}

/* True when the folder fd holds nothing but "." and "..". */
static bool dir_empty(int fd)
{
    int dup_fd = dup(fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    const struct dirent *e;
    bool empty = true;

    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return false;
    }
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

/* Checks that dir does not exist or is an empty folder; creates it (mode
 * 0700) when missing and opens it into b->dirfd. Returns CLI_CONTINUE or
 * the exit code after a message. */
static int open_out_dir(struct bundle *b, bool create)
{
    struct stat st;

    if (stat(b->dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return cli_error(b->cmd, CLI_EXIT_USAGE,
                             "--out %s exists and is not a folder", b->dir);
    } else if (errno != ENOENT) {
        return cli_error(b->cmd, CLI_EXIT_FAIL, "--out %s: %s", b->dir,
                         strerror(errno));
    } else if (!create) {
        return CLI_CONTINUE; /* made later */
    } else if (mkdir(b->dir, S_IRWXU) != 0) {
        return cli_error(b->cmd, CLI_EXIT_FAIL, "cannot create %s: %s", b->dir,
                         strerror(errno));
    }
    b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dirfd < 0)
        return cli_error(b->cmd, CLI_EXIT_FAIL, "cannot open %s: %s", b->dir,
                         strerror(errno));
    if (!dir_empty(b->dirfd)) {
        close(b->dirfd);
        b->dirfd = -1;
        return cli_error(b->cmd, CLI_EXIT_USAGE,
                         "--out %s is not empty: a bundle goes into a new "
                         "or empty folder",
                         b->dir);
    }
    if (!create) {
        close(b->dirfd);
        b->dirfd = -1;
    }
    return CLI_CONTINUE;
}

/* Loads the report's time zone: --tz, or the machine's; UTC (with a note)
 * when the machine has none. Returns CLI_CONTINUE or the exit code. */
static int load_tz(struct bundle *b, const char *zone)
{
    char err[ERR_LEN] = "";
    enum lw_err e = lw_tz_load(zone, &b->tz, err, sizeof(err));

    if (e == LW_OK)
        return CLI_CONTINUE;
    if (zone)
        return cli_error(b->cmd, CLI_EXIT_USAGE, "--tz %s: %s", zone,
                         err[0] ? err : lw_strerror(e));
    b->tz = NULL;
    snprintf(b->tz_note, sizeof(b->tz_note),
             "the machine's time zone could not be read (%s); local times "
             "are UTC",
             err[0] ? err : lw_strerror(e));
    return CLI_CONTINUE;
}

/* Everything but the audit record: read in one snapshot, written out. */
static int export(struct bundle *b, struct lw_store *s)
{
    json_t *alerts = NULL, *audit = NULL;
    enum lw_err e;
    int rc = CLI_EXIT_FAIL;

    e = lw_store_read_begin(s);
    if (e != LW_OK)
        return cli_db_error(b->cmd, s, e);
    e = lw_audit_head(s, &b->head);
    if (e == LW_OK && b->m.v.account[0]) {
        e = lw_registry_account_get(s, b->m.v.account, &b->acct);
        b->has_account = e == LW_OK;
        if (e == LW_ERR_NOTFOUND)
            e = LW_OK;
    }
    if (e == LW_OK) {
        e = lw_store_device_get(s, b->m.v.device, &b->dev);
        b->heard = e == LW_OK;
        if (e == LW_ERR_NOTFOUND)
            e = LW_OK;
    }
    if (e != LW_OK) {
        rc = cli_db_error(b->cmd, s, e);
        goto out;
    }
    if (!write_vehicle(b) || !write_account(b) || !write_history(b, s) ||
        !write_alerts(b, s, &alerts) || !write_audit(b, s, &audit) ||
        !write_pem(b) || !write_report(b, s, alerts, audit) ||
        !write_manifest(b))
        goto out;
    if (fsync(b->dirfd) != 0) {
        cli_error(b->cmd, CLI_EXIT_FAIL, "%s: %s", b->dir, strerror(errno));
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    lw_store_rollback(s);
    json_decref(alerts);
    json_decref(audit);
    return rc;
}

static int run_export(struct cli *c, int argc, char **argv)
{
    enum { OPT_FROM = 0x200, OPT_TO, OPT_CONFIG, OPT_TZ };
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"reason", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"tz", required_argument, NULL, OPT_TZ},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_evidence;
    struct bundle *b = calloc(1, sizeof(*b));
    struct cli_target target = {0};
    const char *key = NULL, *config = NULL, *zone = NULL;
    char keyfile[PATH_LEN], why[ERR_LEN];
    char detail[2 * PATH_LEN + 256 + CLI_RULE_NOTE_LEN];
    struct cli_access acc = {0};
    char cwd[PATH_LEN], where[2 * PATH_LEN + 2];
    char u1[LW_TIME_BUFLEN], u2[LW_TIME_BUFLEN];
    bool have_from = false, have_to = false;
    struct lw_audit_rec r;
    struct lw_store *s;
    int opt, rc, found;

    if (!b)
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    b->c = c;
    b->cmd = me->name;
    b->dirfd = -1;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:o:k:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_FROM:
            if (!cli_time_bound(c, optarg, false, &b->from_ms)) {
                rc = cli_usage_error(me, "--from '%s' is not a time", optarg);
                goto out;
            }
            have_from = true;
            break;
        case OPT_TO:
            if (!cli_time_bound(c, optarg, true, &b->to_ms)) {
                rc = cli_usage_error(me, "--to '%s' is not a time", optarg);
                goto out;
            }
            have_to = true;
            break;
        case 'r':
            b->reason = optarg;
            break;
        case 'o':
            b->dir = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case OPT_CONFIG:
            config = optarg;
            break;
        case OPT_TZ:
            zone = optarg;
            break;
        default:
            rc = cli_target_common_opt(c, me, &target, opt, argv);
            if (rc != CLI_CONTINUE)
                goto out;
        }
    }
    rc = cli_target_operands(me, &target, argc - optind, argv + optind);
    if (rc != CLI_CONTINUE)
        goto out;
    if (!have_from || !have_to) {
        rc = cli_usage_error(me, "--from and --to are required: a bundle "
                                 "covers a stated range");
        goto out;
    }
    if (b->from_ms > b->to_ms) {
        rc = cli_usage_error(me, "--from is after --to");
        goto out;
    }
    if (!b->reason || !b->reason[0]) {
        rc = cli_usage_error(me, "--reason is required: say why the bundle "
                                 "is made (it goes into the audit trail)");
        goto out;
    }
    if (!lw_text_ok(b->reason, REASON_MAX, why, sizeof(why))) {
        rc = cli_usage_error(me, "--reason %s", why);
        goto out;
    }
    if (!b->dir || !b->dir[0]) {
        rc = cli_usage_error(me, "--out DIR is required");
        goto out;
    }
    rc = open_out_dir(b, false);
    if (rc != CLI_CONTINUE)
        goto out;
    rc = load_tz(b, zone);
    if (rc != CLI_CONTINUE)
        goto out;
    if (!key_path(me->name, key, config, keyfile, sizeof(keyfile)) ||
        !load_key(b, keyfile)) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }

    s = cli_store_registry(c, me->name);
    if (!s) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    found = cli_target_resolve(me, s, &target, &b->m);
    /* a vehicle that is not watched only as the access rule allows (a
     * bundle always states a reason: an override) */
    if (found == CLI_CONTINUE) {
        rc = cli_access_check(c, me->name, s, &b->m, b->reason, config, &acc);
        if (rc != CLI_CONTINUE)
            goto out;
    }
    /* on the record before anything is read; no record, no export. The
     * folder as an absolute path: where the copy went, wherever the
     * command ran */
    if (b->dir[0] != '/' && getcwd(cwd, sizeof(cwd)))
        snprintf(where, sizeof(where), "%s/%s", cwd, b->dir);
    else
        snprintf(where, sizeof(where), "%s", b->dir);
    snprintf(detail, sizeof(detail),
             "evidence bundle to %s: fixes from %s to %s, signed with "
             "Ed25519 key %s%s%s",
             where, utc(b->from_ms, u1), utc(b->to_ms, u2), b->pk_b64,
             found == CLI_CONTINUE ? "; " : "",
             found == CLI_CONTINUE ? acc.detail : "");
    cli_audit_rec(c, &r, "evidence",
                  found == CLI_CONTINUE ? b->m.v.device : target.text);
    r.reason = b->reason;
    r.basis = found == CLI_CONTINUE ? acc.basis : NULL;
    r.detail = detail;
    if (cli_audit_write(c, &r, &b->rec, why, sizeof(why)) != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_FAIL,
                       "the export could not be recorded in the audit trail, "
                       "so nothing was exported: %s",
                       why);
        goto out;
    }
    if (found != CLI_CONTINUE) {
        rc = found;
        goto out;
    }
    rc = open_out_dir(b, true);
    if (rc != CLI_CONTINUE)
        goto out;
    rc = export(b, s);
    if (rc == CLI_EXIT_OK)
        printf("evidence bundle written to %s: %lld position%s, %lld "
               "alert%s, %lld audit record%s; audit record %lld; head "
               "%lld:%s\n",
               b->dir, (long long)b->nfix, b->nfix == 1 ? "" : "s",
               (long long)b->nalerts, b->nalerts == 1 ? "" : "s",
               (long long)b->naudit, b->naudit == 1 ? "" : "s",
               (long long)b->rec.id, (long long)b->head.id, b->head.hash);
    else
        fprintf(stderr,
                "lienwatch evidence: the bundle in %s is incomplete (no "
                "valid MANIFEST): remove it and try again\n",
                b->dir);
out:
    if (b->dirfd >= 0)
        close(b->dirfd);
    lw_tz_free(b->tz);
    sodium_memzero(b->sk, sizeof(b->sk));
    free(b);
    return rc;
}

/* ---- verifying a bundle ----------------------------------------------------
 */

/* Whether name is one of the manifest's files. */
static bool listed(const struct lw_manifest *m, const char *name)
{
    int i;

    for (i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, name) == 0)
            return true;
    return false;
}

/* Reports files in the folder that MANIFEST does not list; returns their
 * number (-1 when the folder cannot be read). */
static int extra_files(int dirfd, const struct lw_manifest *m)
{
    int dup_fd = dup(dirfd), n = 0;
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    const struct dirent *e;

    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strcmp(e->d_name, F_MANIFEST) || !strcmp(e->d_name, F_SIG) ||
            listed(m, e->d_name))
            continue;
        printf("%s: EXTRA (not listed in MANIFEST)\n", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* The public key of --pubkey: the text itself, or the file it names. */
static bool pubkey_arg(const char *arg, unsigned char *pk)
{
    char why[ERR_LEN], *text;
    size_t len = 0;
    bool ok;

    if (lw_evidence_pk_parse(arg, strlen(arg), pk) == LW_OK)
        return true;
    text = read_small(-1, arg, SMALL_FILE_MAX, &len, why, sizeof(why));
    if (!text)
        return false;
    ok = lw_evidence_pk_parse(text, len, pk) == LW_OK;
    sodium_memzero(text, len);
    free(text);
    return ok;
}

/* Checks MANIFEST.sig against text (len bytes) with pk; prints the
 * outcome. True when the signature holds. */
static bool check_signature(int dirfd, const char *text, size_t len,
                            const unsigned char *pk, bool own_key,
                            const struct lw_manifest *m, bool key_given)
{
    unsigned char sig[LW_EVIDENCE_SIG_BYTES];
    char why[ERR_LEN], *sigtext;
    size_t siglen = 0, got = 0;
    bool ok;

    sigtext =
        read_small(dirfd, F_SIG, SMALL_FILE_MAX, &siglen, why, sizeof(why));
    if (!sigtext) {
        printf("%s: MISSING or unreadable (%s)\n", F_SIG, why);
        return false;
    }
    ok = sodium_base642bin(sig, sizeof(sig), sigtext, siglen, " \t\r\n", &got,
                           NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
         got == sizeof(sig);
    free(sigtext);
    if (!ok) {
        printf("%s: not a signature\n", F_SIG);
        return false;
    }
    ok = crypto_sign_verify_detached(sig, (const unsigned char *)text, len,
                                     pk) == 0;
    if (ok && own_key)
        printf("signature: good, but checked with the key the bundle itself "
               "carries (%s); anyone can sign with a key of their own: "
               "compare that key with the lender's published key, or use "
               "--pubkey\n",
               m->key);
    else if (ok)
        printf("signature: good (Ed25519, the key given with --pubkey)\n");
    else
        printf("signature: BAD: MANIFEST was changed after it was signed, or "
               "signed with another key%s\n",
               key_given && m->key[0] ? " than the one given" : "");
    return ok;
}

static int run_verify(struct cli *c, int argc, char **argv)
{
    enum { OPT_PUBKEY = 0x200 };
    static const struct option opts[] = {
        {"pubkey", required_argument, NULL, OPT_PUBKEY},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_evidence;
    const char *cmd = "evidence verify";
    unsigned char pk[LW_EVIDENCE_PK_BYTES];
    char why[ERR_LEN], sha[LW_AUDIT_HASH_HEX + 1];
    struct lw_manifest *m = NULL;
    const char *pubkey = NULL, *dir;
    char *text = NULL;
    size_t len = 0;
    bool own_key;
    enum lw_err pe;
    int opt, rc, i, dirfd = -1, problems = 0, extra;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_PUBKEY:
            pubkey = optarg;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(me, "evidence verify takes one folder");
    dir = argv[optind];
    if (pubkey && !pubkey_arg(pubkey, pk))
        return cli_usage_error(me,
                               "--pubkey: '%s' is neither a public key as "
                               "'evidence keygen' prints it nor a file "
                               "holding one",
                               pubkey);
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot open %s: %s", dir,
                         strerror(errno));
    m = calloc(1, sizeof(*m));
    if (!m) {
        rc = cli_error(cmd, CLI_EXIT_FAIL, "out of memory");
        goto out;
    }
    text = read_small(dirfd, F_MANIFEST, MANIFEST_MAX, &len, why, sizeof(why));
    if (!text) {
        printf("%s: MISSING or unreadable (%s): not a bundle\n", F_MANIFEST,
               why);
        printf("bundle NOT verified\n");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    pe = lw_manifest_parse(text, len, m);

    /* the signature, over MANIFEST's exact bytes */
    own_key = !pubkey;
    if (own_key && lw_evidence_pk_parse(m->key, strlen(m->key), pk) != LW_OK) {
        printf("signature: CANNOT CHECK: MANIFEST names no signing key and "
               "no --pubkey was given\n");
        problems++;
    } else if (!check_signature(dirfd, text, len, pk, own_key, m,
                                pubkey != NULL)) {
        problems++;
    }
    if (pe == LW_ERR_RANGE) {
        printf("%s: lists more than %d files\n", F_MANIFEST,
               LW_MANIFEST_MAX_FILES);
        problems++;
    }
    if (m->bad_line) {
        printf("%s: line %d is not '<sha256>  <file>'\n", F_MANIFEST,
               m->bad_line);
        problems++;
    }

    /* every file listed, as listed */
    for (i = 0; i < m->nfiles; i++) {
        const struct lw_manifest_file *e = &m->files[i];

        if (!sha256_file(dirfd, e->name, sha, why, sizeof(why))) {
            printf("%s: MISSING or unreadable (%s)\n", e->name, why);
            problems++;
        } else if (strcmp(sha, e->sha256) != 0) {
            printf("%s: CHANGED (its SHA-256 is not the one in MANIFEST)\n",
                   e->name);
            problems++;
        }
    }
    extra = extra_files(dirfd, m);
    if (extra < 0) {
        rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot list %s: %s", dir,
                       strerror(errno));
        goto out;
    }
    problems += extra;
    if (problems) {
        printf("bundle NOT verified: %d problem%s\n", problems,
               problems == 1 ? "" : "s");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    printf("files: all %d listed in MANIFEST match, none added\n", m->nfiles);
    if (m->device[0])
        printf("device: %s; from %s to %s; created %s\n", m->device, m->from,
               m->to, m->created);
    if (m->head[0])
        printf("audit head at export: %s (compare: lienwatch audit verify "
               "--head %s)\n",
               m->head, m->head);
    printf("bundle verified%s\n",
           own_key ? " (with the key it carries: see above)" : "");
    rc = CLI_EXIT_OK;
out:
    if (dirfd >= 0)
        close(dirfd);
    free(text);
    free(m);
    return rc;
}

static int cmd_evidence(struct cli *c, int argc, char **argv)
{
    if (sodium_init() < 0)
        return cli_error("evidence", CLI_EXIT_FAIL,
                         "libsodium could not be initialised");
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return run_keygen(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return run_verify(c, argc - 1, argv + 1);
    return run_export(c, argc, argv);
}
