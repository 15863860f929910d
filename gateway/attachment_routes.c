/* Attachment routes: upload a file (raw body) and read it back. */
#include <stdio.h>
#include <string.h>

#include "attachments.h"
#include "gateway.h"
#include "json.h"

#define ERR_ATTACHMENT_NOT_FOUND "attachment_not_found"

static void on_saved(void *arg, json_t *saved, const char *error)
{
	http_req *req = arg;
	if (!saved) {
		(void)error;
		gw_reply_unavailable(req);
		return;
	}
	http_reply_json(req, 201, saved);
}

static void upload(gateway *gw, http_req *req, const principal *p)
{
	size_t len = 0;
	const unsigned char *data = http_req_body(req, &len);
	if (len > gw->cfg->max_attachment_bytes) {
		http_reply_error(req, 413, HTTP_ERR_BODY_TOO_LARGE,
				 "an attachment may have at most %zu bytes",
				 gw->cfg->max_attachment_bytes);
		return;
	}
	const char *filename = http_req_query(req, "filename");
	if (!filename || !*filename)
		filename = "attachment";
	if (strlen(filename) > ATTACHMENT_FILENAME_MAX || strpbrk(filename, "/\\\"\r\n") ||
	    !json_utf8_valid(filename, strlen(filename))) {
		http_reply_error(
			req, 400, HTTP_ERR_INVALID_REQUEST,
			"filename: at most %d bytes, without slashes, quotes or line breaks",
			ATTACHMENT_FILENAME_MAX);
		return;
	}
	const char *type = http_req_header(req, "Content-Type");
	if (!type || !*type)
		type = "application/octet-stream";
	for (const char *c = type; *c; c++) {
		if (*c < 0x20 || *c > 0x7e || c - type >= ATTACHMENT_TYPE_MAX) {
			http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
					 "Content-Type: at most %d printable ASCII characters",
					 ATTACHMENT_TYPE_MAX);
			return;
		}
	}
	attachments_save(gw->db, p->id, filename, type, data, len, on_saved, req);
}

static void upload_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_USER | ALLOW_AGENT, upload);
}

static void on_read(void *arg, int found, const char *filename, const char *content_type,
		    const unsigned char *data, size_t len, const char *error)
{
	http_req *req = arg;
	if (error) {
		gw_reply_unavailable(req);
		return;
	}
	if (!found) {
		http_reply_error(req, 404, ERR_ATTACHMENT_NOT_FOUND, "no such attachment");
		return;
	}
	char disposition[ATTACHMENT_FILENAME_MAX + 64];
	snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
	http_req_add_header(req, "Content-Disposition", disposition);
	http_reply_raw(req, 200, content_type, data, len);
}

static void read_attachment(gateway *gw, http_req *req, const principal *p)
{
	const char *id = http_req_param(req, "id");
	if (!id || !ids_valid(id, "att")) {
		http_reply_error(req, 404, ERR_ATTACHMENT_NOT_FOUND, "no such attachment");
		return;
	}
	attachments_read(gw->db, id, p->id, on_read, req);
}

static void read_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_USER | ALLOW_AGENT, read_attachment);
}

int gw_attachment_routes(gateway *gw, http_server *http)
{
	if (http_route(http, "POST", "/api/attachments", upload_route, gw) != 0 ||
	    http_route(http, "GET", "/api/attachments/:id", read_route, gw) != 0)
		return -1;
	return 0;
}
