/* List pagination: the limit parameter and opaque cursors over (time, id). */
#ifndef ERRAND_PAGINATION_H
#define ERRAND_PAGINATION_H

#include <jansson.h>

#include "db.h"
#include "ids.h"

#define PAGINATION_DEFAULT_LIMIT 50
#define PAGINATION_MAX_LIMIT 500

/* A position in a list ordered by (time DESC, id DESC): the last row shown. */
typedef struct pagination_pos {
	char time[48]; /* a PostgreSQL timestamptz as text */
	char id[IDS_MAX_LEN];
} pagination_pos;

/*
 * Reads ?limit=: NULL gives PAGINATION_DEFAULT_LIMIT. Returns 0, or -1 when
 * it is not an integer from 1 to PAGINATION_MAX_LIMIT.
 */
int pagination_limit(const char *text, int *out) __attribute__((warn_unused_result));

/*
 * Decodes a cursor made by pagination_cursor(). A NULL cursor is the start
 * (returns 0, `out` zeroed). Returns -1 for anything else malformed.
 */
int pagination_parse(const char *cursor, pagination_pos *out) __attribute__((warn_unused_result));

/* Encodes a position as an opaque base64url cursor. Caller frees; NULL on failure. */
char *pagination_cursor(const char *time, const char *id);

/*
 * A page of rows: `rows` (borrowed) holds the JSON of each row and
 * `next_cursor` the cursor of the next page or NULL; `error` is set (and
 * `rows` NULL) when the database could not answer.
 */
typedef void (*pagination_cb)(void *arg, json_t *rows, const char *next_cursor, const char *error);

/*
 * Runs the list statement `name`, whose rows are (JSON text of the row,
 * its time, its id) ordered by (time DESC, id DESC) and which is asked for
 * `limit` + 1 rows (the caller puts limit + 1 in its parameters). Calls
 * `cb` with at most `limit` rows. Returns -1 if the query could not be
 * queued (`cb` is not called).
 */
int pagination_query(db_pool *db, const char *name, int nparams, const char *const *params,
		     int limit, pagination_cb cb, void *arg) __attribute__((warn_unused_result));

#endif
