/* Schema migrations: applied in order, each in a transaction, under an advisory lock. */
#include "migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs `sql` (no parameters); on failure writes "what: error" into err. Returns 0 or -1. */
static int exec_ok(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s: %s", what, PQerrorMessage(pg));
	PQclear(res);
	return ok ? 0 : -1;
}

/* The database's schema version, or -1 with err set. */
static int current_version(PGconn *pg, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, "SELECT to_regclass('errand_schema_migrations') IS NULL");
	int fresh = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		    PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (fresh)
		return 0;
	res = PQexec(pg, MIGRATE_VERSION_SQL);
	int v = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else
		snprintf(err, errlen, "reading the schema version: %s", PQerrorMessage(pg));
	PQclear(res);
	return v;
}

/* Applies one migration and records it, in one transaction. Returns 0 or -1. */
static int apply_one(PGconn *pg, const migration *m, char *err, size_t errlen)
{
	char what[128];
	snprintf(what, sizeof what, "migration %s", m->name);
	if (exec_ok(pg, "BEGIN", what, err, errlen) != 0)
		return -1;
	if (exec_ok(pg, m->sql, what, err, errlen) != 0)
		goto fail;
	char version[16];
	snprintf(version, sizeof version, "%d", m->version);
	const char *params[] = { version, m->name };
	PGresult *res = PQexecParams(
		pg, "INSERT INTO errand_schema_migrations (version, name) VALUES ($1, $2)", 2, NULL,
		params, NULL, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		snprintf(err, errlen, "%s: recording it: %s", what, PQerrorMessage(pg));
	PQclear(res);
	if (!ok)
		goto fail;
	return exec_ok(pg, "COMMIT", what, err, errlen);
fail:
	PQclear(PQexec(pg, "ROLLBACK"));
	return -1;
}

int migrate_latest_version(void)
{
	int v = 0;
	for (size_t i = 0; i < MIGRATIONS_N; i++)
		if (MIGRATIONS[i].version > v)
			v = MIGRATIONS[i].version;
	return v;
}

int migrate_current_version(const char *conninfo, char *err, size_t errlen)
{
	int v = -1;
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
	else
		v = current_version(pg, err, errlen);
	PQfinish(pg);
	return v;
}

int migrate_apply(const char *conninfo, void (*progress)(const migration *m), char *err,
		  size_t errlen)
{
	int applied = -1;
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
		goto done;
	}
	if (exec_ok(pg, "SET client_min_messages = warning", "settings", err, errlen) != 0)
		goto done;
	char lock[96];
	snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
	if (exec_ok(pg, lock, "taking the migration lock", err, errlen) != 0)
		goto done;
	if (exec_ok(pg,
		    "CREATE TABLE IF NOT EXISTS errand_schema_migrations ("
		    " version int PRIMARY KEY, name text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())",
		    "creating errand_schema_migrations", err, errlen) != 0)
		goto done;
	int current = current_version(pg, err, errlen);
	if (current < 0)
		goto done;
	int n = 0;
	for (size_t i = 0; i < MIGRATIONS_N; i++) {
		const migration *m = &MIGRATIONS[i];
		if (m->version <= current)
			continue;
		if (apply_one(pg, m, err, errlen) != 0)
			goto done;
		if (progress)
			progress(m);
		n++;
	}
	applied = n;
done:
	/* The lock is the session's: closing the connection releases it. */
	PQfinish(pg);
	return applied;
}
