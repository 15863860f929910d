/* List pagination: limits and opaque base64url cursors. */
#include "pagination.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

#define CURSOR_MAX 256

/* Reads exactly `n` digits at `*p` as a number from 0 to `max`. Returns it and advances, or -1. */
static int number(const char **p, int n, int max)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v <= max ? v : -1;
}

/*
 * Nonzero when `s` is a timestamptz as PostgreSQL writes it:
 * "2026-11-23 14:17:19.833412+00" (or with a T), fraction and offset
 * minutes optional, every field in range.
 */
static int pg_time_valid(const char *s)
{
	const char *p = s;
	if (number(&p, 4, 9999) < 0 || *p++ != '-' || number(&p, 2, 12) < 1 || *p++ != '-' ||
	    number(&p, 2, 31) < 1 || (*p != ' ' && *p != 'T'))
		return 0;
	p++;
	if (number(&p, 2, 23) < 0 || *p++ != ':' || number(&p, 2, 59) < 0 || *p++ != ':' ||
	    number(&p, 2, 60) < 0)
		return 0;
	if (*p == '.') {
		p++;
		int n = 0;
		while (*p >= '0' && *p <= '9' && n < 6)
			p++, n++;
		if (n == 0)
			return 0;
	}
	if (*p != '+' && *p != '-')
		return 0;
	p++;
	if (number(&p, 2, 15) < 0)
		return 0;
	if (*p == ':') {
		p++;
		if (number(&p, 2, 59) < 0)
			return 0;
	}
	return *p == '\0';
}

int pagination_limit(const char *text, int *out)
{
	if (!text) {
		*out = PAGINATION_DEFAULT_LIMIT;
		return 0;
	}
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (!*text || *end || v < 1 || v > PAGINATION_MAX_LIMIT || text[0] == '+' || text[0] == ' ')
		return -1;
	*out = (int)v;
	return 0;
}

char *pagination_cursor(const char *time, const char *id)
{
	char plain[CURSOR_MAX];
	int n = snprintf(plain, sizeof plain, "%s|%s", time, id);
	if (n < 0 || (size_t)n >= sizeof plain)
		return NULL;
	char *out = malloc(4 * ((size_t)n / 3 + 1) + 1);
	if (!out)
		return NULL;
	int len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

int pagination_parse(const char *cursor, pagination_pos *out)
{
	memset(out, 0, sizeof *out);
	if (!cursor)
		return 0;
	size_t len = strlen(cursor);
	if (len == 0 || len > CURSOR_MAX)
		return -1;
	char b64[CURSOR_MAX + 4];
	for (size_t i = 0; i < len; i++) {
		char ch = cursor[i];
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			   (ch >= '0' && ch <= '9')))
			return -1;
		b64[i] = ch;
	}
	while (len % 4)
		b64[len++] = '=';
	b64[len] = '\0';
	unsigned char plain[CURSOR_MAX];
	int n = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return -1;
	while (n > 0 && plain[n - 1] == '\0')
		n--; /* EVP_DecodeBlock counts the padding as zero bytes */
	plain[n] = '\0';
	char *bar = memchr(plain, '|', (size_t)n);
	if (!bar || memchr(plain, '\0', (size_t)n))
		return -1;
	*bar = '\0';
	const char *time = (const char *)plain, *id = bar + 1;
	if (strlen(time) == 0 || strlen(time) >= sizeof out->time || strlen(id) >= sizeof out->id ||
	    !ids_valid(id, NULL))
		return -1;
	if (!pg_time_valid(time))
		return -1;
	memcpy(out->time, time, strlen(time) + 1);
	memcpy(out->id, id, strlen(id) + 1);
	return 0;
}

/* ===== Pages of rows ===== */

typedef struct page_query {
	pagination_cb cb;
	void *arg;
	int limit;
} page_query;

static void on_page(void *arg, PGresult *res, const char *error)
{
	page_query *q = arg;
	if (!db_result_ok(res)) {
		log_error("list failed: %s", error ? error : "no result");
		q->cb(q->arg, NULL, NULL, error ? error : "no result");
		free(q);
		return;
	}
	int n = PQntuples(res);
	int shown = n > q->limit ? q->limit : n;
	json_t *rows = json_array();
	for (int i = 0; i < shown; i++) {
		json_t *row = json_load_db(PQgetvalue(res, i, 0));
		if (row)
			json_array_append_new(rows, row);
	}
	char *cursor = NULL;
	if (n > q->limit)
		cursor = pagination_cursor(PQgetvalue(res, shown - 1, 1),
					   PQgetvalue(res, shown - 1, 2));
	q->cb(q->arg, rows, cursor, NULL);
	free(cursor);
	json_decref(rows);
	free(q);
}

int pagination_query(db_pool *db, const char *name, int nparams, const char *const *params,
		     int limit, pagination_cb cb, void *arg)
{
	page_query *q = calloc(1, sizeof *q);
	if (!q)
		return -1;
	q->cb = cb;
	q->arg = arg;
	q->limit = limit;
	if (db_query(db, name, nparams, params, on_page, q) != 0) {
		free(q);
		return -1;
	}
	return 0;
}
