/*
 * static.c - the page's files (web.static_dir), Leaflet (web.leaflet_dir,
 * under /leaflet/), and /config.json (what the page needs to know of the
 * configuration: the tile server).
 *
 * Only GET and HEAD; only paths of letters, digits, '.', '-', '_' and '/'
 * with no ".." segment and no hidden file; only regular files.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/log.h"
#include "web.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".png", "image/png"},
    {".svg", "image/svg+xml"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".map", "application/json"},
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static bool path_ok(const char *p)
{
    if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789.-_/") != strlen(p))
        return false;
    return !strstr(p, "/.") && p[0] != '.';
}

static enum MHD_Result serve_file(struct lww_req *r, const char *dir,
                                  const char *rel, const char *cache)
{
    char path[LW_CONFIG_STR_MAX + 256];
    struct stat sb;
    struct MHD_Response *resp;
    const char *type = type_of(rel);
    enum MHD_Result ret;
    int fd;

    if (!type || !path_ok(rel) || strlen(rel) > 200)
        return lww_reply_error(r, 404, "not found");
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lww_reply_error(r, 404, "not found");
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lww_reply_error(r, 404, "not found");
    }
    resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", cache);
    lww_security_headers(r->w, resp);
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ret;
}

enum MHD_Result lww_static(struct lww_req *r, const char *url)
{
    struct lww *w = r->w;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return lww_reply_error(r, 405, "only GET here");
    if (strcmp(url, "/config.json") == 0) {
        json_t *o = json_pack("{s:s, s:s}", "tile_url", w->cfg.web_tile_url,
                              "tile_attribution",
                              w->cfg.web_tile_attribution);
        return lww_reply_json(r, 200, o);
    }
    if (strncmp(url, "/leaflet/", 9) == 0)
        return serve_file(r, w->cfg.web_leaflet_dir, url + 9,
                          "public, max-age=86400");
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    /* the page revalidates each time: an update reaches phones at once */
    return serve_file(r, w->static_dir, url + 1, "no-cache");
}
