/* Attachments: files uploaded before a job or a submission names them, stored in PostgreSQL. */
#ifndef ERRAND_ATTACHMENTS_H
#define ERRAND_ATTACHMENTS_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"

#define ATTACHMENT_FILENAME_MAX 255
#define ATTACHMENT_TYPE_MAX 255

extern const db_stmt ATTACHMENTS_STMTS[];
extern const size_t ATTACHMENTS_STMTS_N;

/* The new attachment {id, filename, size, content_type, sha256} (new reference), or NULL and an error. */
typedef void (*attachment_saved_cb)(void *arg, json_t *saved, const char *error);

/* Stores `len` bytes uploaded by `uploader_id`. */
void attachments_save(db_pool *db, const char *uploader_id, const char *filename,
		      const char *content_type, const unsigned char *data, size_t len,
		      attachment_saved_cb cb, void *arg);

/*
 * The bytes of attachment `id` if `reader_id` may read it (its uploader,
 * or the sender or accepting agent of a job that names it): `data` and
 * its type are valid during the call; `found` is 0 when it does not exist
 * for this reader; `error` is set when the database could not answer.
 */
typedef void (*attachment_read_cb)(void *arg, int found, const char *filename,
				   const char *content_type, const unsigned char *data, size_t len,
				   const char *error);

void attachments_read(db_pool *db, const char *id, const char *reader_id, attachment_read_cb cb,
		      void *arg);

#endif
