/* Attachments in PostgreSQL: upload and read with visibility through jobs. */
#include "attachments.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ids.h"
#include "log.h"

const db_stmt ATTACHMENTS_STMTS[] = {
	{ "attachment_save",
	  "INSERT INTO attachments (id, uploader_id, filename, content_type, size, sha256, content)"
	  " VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::bytea)",
	  7 },
	{ "attachment_read",
	  "SELECT a.filename, a.content_type, a.content FROM attachments a"
	  " WHERE a.id = $1 AND (a.uploader_id = $2 OR EXISTS (SELECT 1 FROM jobs j"
	  "  WHERE (j.attachments @> ARRAY[a.id] OR j.output_attachments @> ARRAY[a.id])"
	  "  AND (j.sender_id = $2 OR (j.agent_id = $2 AND j.accepted_at IS NOT NULL))))",
	  2 },
};
const size_t ATTACHMENTS_STMTS_N = sizeof ATTACHMENTS_STMTS / sizeof ATTACHMENTS_STMTS[0];

typedef struct save_call {
	attachment_saved_cb cb;
	void *arg;
	json_t *saved;
} save_call;

typedef struct read_call {
	attachment_read_cb cb;
	void *arg;
} read_call;

static void on_saved(void *arg, PGresult *res, const char *error)
{
	save_call *c = arg;
	if (!db_result_ok(res)) {
		log_error("saving an attachment failed: %s", error ? error : "no result");
		json_decref(c->saved);
		c->cb(c->arg, NULL, error ? error : "no result");
	} else {
		c->cb(c->arg, c->saved, NULL);
	}
	free(c);
}

void attachments_save(db_pool *db, const char *uploader_id, const char *filename,
		      const char *content_type, const unsigned char *data, size_t len,
		      attachment_saved_cb cb, void *arg)
{
	save_call *c = calloc(1, sizeof *c);
	char id[IDS_MAX_LEN], size[24], sha[AUTH_HASH_HEX_LEN + 1];
	if (!c || len > INT32_MAX || ids_new("att", id) != 0) {
		free(c);
		cb(arg, NULL, "out of memory");
		return;
	}
	auth_hash_hex((const char *)data, len, sha);
	snprintf(size, sizeof size, "%zu", len);
	c->cb = cb;
	c->arg = arg;
	c->saved = json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", id, "filename", filename, "size",
			     (json_int_t)len, "content_type", content_type, "sha256", sha);
	/* The bytes go as a binary parameter: no hex text twice their size. */
	const char *params[] = { id,   uploader_id, filename,	       content_type,
				 size, sha,	    (const char *)data };
	const int lengths[] = { -1, -1, -1, -1, -1, -1, (int)len };
	if (db_query_binary(db, "attachment_save", 7, params, lengths, 0, on_saved, c) != 0) {
		json_decref(c->saved);
		free(c);
		cb(arg, NULL, "cannot queue the query");
	}
}

static void on_read(void *arg, PGresult *res, const char *error)
{
	read_call *c = arg;
	if (!db_result_ok(res)) {
		c->cb(c->arg, 0, NULL, NULL, NULL, 0, error ? error : "no result");
	} else if (PQntuples(res) == 0) {
		c->cb(c->arg, 0, NULL, NULL, NULL, 0, NULL);
	} else {
		/* A binary result: text columns are their bytes, the content raw. */
		c->cb(c->arg, 1, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		      (const unsigned char *)PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2),
		      NULL);
	}
	free(c);
}

void attachments_read(db_pool *db, const char *id, const char *reader_id, attachment_read_cb cb,
		      void *arg)
{
	read_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, 0, NULL, NULL, NULL, 0, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	const char *params[] = { id, reader_id };
	if (db_query_binary(db, "attachment_read", 2, params, NULL, 1, on_read, c) != 0) {
		free(c);
		cb(arg, 0, NULL, NULL, NULL, 0, "cannot queue the query");
	}
}
