/* Unit tests of migrate.c: the embedded migrations, applied to a real PostgreSQL. */
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ids.h"
#include "migrate.h"
#include "testlib.h"

/* ===== Environment and scratch databases ===== */

/* The superuser URL of the test server; fails the test when it is not given. */
static const char *pg_url(void)
{
	const char *url = getenv("ERRAND_TEST_PG_URL");
	if (!url || !*url) {
		fprintf(stderr, "ERRAND_TEST_PG_URL is not set: this test needs a running "
				"PostgreSQL (tests/run exports it)\n");
		exit(1);
	}
	return url;
}

/* `base` with its database name replaced by `db`. Caller frees. */
static char *url_with_db(const char *base, const char *db)
{
	const char *scheme = strstr(base, "://");
	CHECK(scheme != NULL);
	const char *path = strchr(scheme + 3, '/');
	size_t head = path ? (size_t)(path - base) : strlen(base);
	const char *rest = path ? path + strcspn(path, "?") : "";
	size_t n = head + strlen(db) + strlen(rest) + 2;
	char *out = malloc(n);
	CHECK(out != NULL);
	snprintf(out, n, "%.*s/%s%s", (int)head, base, db, rest);
	return out;
}

/* Runs `sql` on a blocking connection to `url`; the result outlives the connection. */
static PGresult *pg_exec(const char *url, const char *sql)
{
	PGconn *pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to %s: %s", url, PQerrorMessage(pg));
		PQfinish(pg);
		exit(1);
	}
	PGresult *res = PQexec(pg, sql);
	PQfinish(pg);
	return res;
}

/* The single value `sql` returns on `url`, as an integer. */
static int pg_int(const char *url, const char *sql)
{
	PGresult *res = pg_exec(url, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	int v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static char scratch_db[64];
static pid_t scratch_owner;

/* Drops the scratch database at exit (also after a failed CHECK), in its creator only. */
static void scratch_drop(void)
{
	if (!scratch_db[0] || getpid() != scratch_owner)
		return;
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", scratch_db);
	PQclear(pg_exec(pg_url(), sql));
	scratch_db[0] = '\0';
}

/* Creates an empty database of this test's own; returns its URL (caller frees). */
static char *scratch_create(void)
{
	unsigned char rnd[4];
	CHECK_INT(ids_random_bytes(rnd, sizeof rnd), 0);
	snprintf(scratch_db, sizeof scratch_db, "errand_t_migrate_%d_%02x%02x%02x%02x",
		 (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	scratch_owner = getpid();
	atexit(scratch_drop);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", scratch_db);
	PGresult *res = pg_exec(pg_url(), sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
	return url_with_db(pg_url(), scratch_db);
}

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Migrations reported to progress(), in order. */
static int progress_versions[256];
static int nprogress;

static void on_progress(const migration *m)
{
	if (nprogress < 256)
		progress_versions[nprogress] = m->version;
	nprogress++;
}

/* ===== Tests ===== */

static void test_table_in_order(void)
{
	CHECK(MIGRATIONS_N >= 1);
	for (size_t i = 0; i < MIGRATIONS_N; i++) {
		const migration *m = &MIGRATIONS[i];
		CHECK(m->version >= 1);
		if (i > 0)
			CHECK(m->version > MIGRATIONS[i - 1].version);
		/* "NNNN_name.sql", NNNN being the version. */
		CHECK(m->name != NULL);
		CHECK_INT(atoi(m->name), m->version);
		CHECK(strchr(m->name, '_') != NULL);
		size_t n = strlen(m->name);
		CHECK(n > 4 && strcmp(m->name + n - 4, ".sql") == 0);
		CHECK(m->sql != NULL && strlen(m->sql) > 0);
	}
	CHECK_INT(migrate_latest_version(), MIGRATIONS[MIGRATIONS_N - 1].version);
	CHECK_STR(MIGRATIONS[0].name, "0001_principals.sql");
	CHECK(strstr(MIGRATIONS[0].sql, "CREATE TABLE principals") != NULL);
}

static void test_apply_fresh_then_again(void)
{
	char *url = scratch_create();
	char err[512] = "";
	CHECK_INT(migrate_current_version(url, err, sizeof err), 0);

	int applied = migrate_apply(url, on_progress, err, sizeof err);
	if (applied != (int)MIGRATIONS_N) {
		fprintf(stderr, "migrate_apply: %d: %s\n", applied, err);
		exit(1);
	}
	CHECK_INT(nprogress, MIGRATIONS_N);
	for (size_t i = 0; i < MIGRATIONS_N; i++)
		CHECK_INT(progress_versions[i], MIGRATIONS[i].version);
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());

	/* Recorded one row per migration, with its name. */
	CHECK_INT(pg_int(url, "SELECT count(*) FROM errand_schema_migrations"), MIGRATIONS_N);
	PGresult *res =
		pg_exec(url, "SELECT version, name FROM errand_schema_migrations ORDER BY version");
	CHECK_INT(PQntuples(res), MIGRATIONS_N);
	for (size_t i = 0; i < MIGRATIONS_N; i++) {
		CHECK_INT(atoi(PQgetvalue(res, (int)i, 0)), MIGRATIONS[i].version);
		CHECK_STR(PQgetvalue(res, (int)i, 1), MIGRATIONS[i].name);
	}
	PQclear(res);
	/* What the migrations make is there: the default project. */
	CHECK_INT(pg_int(url, "SELECT count(*) FROM projects"), 1);
	CHECK_INT(pg_int(url, MIGRATE_VERSION_SQL), migrate_latest_version());

	/* Again: nothing to do. */
	nprogress = 0;
	CHECK_INT(migrate_apply(url, on_progress, err, sizeof err), 0);
	CHECK_INT(nprogress, 0);
	CHECK_INT(migrate_apply(url, NULL, err, sizeof err), 0);
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	CHECK_INT(pg_int(url, "SELECT count(*) FROM errand_schema_migrations"), MIGRATIONS_N);
	free(url);
}

static void test_concurrent_apply(void)
{
	char *url = scratch_create();
	enum {
		NCHILD = 4
	};
	int fds[NCHILD][2];
	pid_t pids[NCHILD];
	for (int i = 0; i < NCHILD; i++) {
		CHECK(pipe(fds[i]) == 0);
		fflush(stdout);
		fflush(stderr);
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			close(fds[i][0]);
			char err[512] = "";
			int n = migrate_apply(url, NULL, err, sizeof err);
			if (n < 0)
				fprintf(stderr, "child %d: migrate_apply: %s\n", i, err);
			ssize_t w = write(fds[i][1], &n, sizeof n);
			_exit(w == (ssize_t)sizeof n ? 0 : 1);
		}
		close(fds[i][1]);
	}
	int total = 0;
	for (int i = 0; i < NCHILD; i++) {
		int n = -1;
		CHECK(read(fds[i][0], &n, sizeof n) == (ssize_t)sizeof n);
		close(fds[i][0]);
		int status = 0;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(n >= 0);
		total += n;
	}
	CHECK_INT(total, MIGRATIONS_N);
	CHECK_INT(pg_int(url, "SELECT count(*) FROM errand_schema_migrations"), MIGRATIONS_N);
	CHECK_INT(pg_int(url, "SELECT count(DISTINCT version) FROM errand_schema_migrations"),
		  MIGRATIONS_N);
	char err[512] = "";
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	CHECK_INT(pg_int(url, "SELECT count(*) FROM projects"), 1);
	free(url);
}

static void test_failed_migration_rolls_back(void)
{
	char *url = scratch_create();
	/* A table in the way: the first migration cannot create its own. */
	PGresult *res = pg_exec(url, "CREATE TABLE projects (x int)");
	CHECK_INT(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	char err[512] = "";
	CHECK_INT(migrate_apply(url, on_progress, err, sizeof err), -1);
	CHECK(strstr(err, MIGRATIONS[0].name) != NULL);
	CHECK(strstr(err, "projects") != NULL);
	CHECK_INT(nprogress, 0);
	/* Nothing of it stayed, and nothing was recorded. */
	CHECK_INT(pg_int(url, "SELECT count(*) FROM errand_schema_migrations"), 0);
	CHECK_INT(pg_int(url, "SELECT (to_regclass('principals') IS NULL)::int"), 1);
	CHECK_INT(migrate_current_version(url, err, sizeof err), 0);

	/* Out of the way, the next run applies everything. */
	PQclear(pg_exec(url, "DROP TABLE projects"));
	CHECK_INT(migrate_apply(url, NULL, err, sizeof err), MIGRATIONS_N);
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	free(url);
}

static void test_bad_conninfo(void)
{
	char url[160];
	snprintf(url, sizeof url, "postgresql://errand@127.0.0.1:%d/errand?connect_timeout=5",
		 closed_port());
	const char *bad[] = { url, "this is not a conninfo", "postgresql://[::1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[512] = "";
		CHECK_INT(migrate_apply(bad[i], on_progress, err, sizeof err), -1);
		CHECK(err[0] != '\0');
		err[0] = '\0';
		CHECK_INT(migrate_current_version(bad[i], err, sizeof err), -1);
		CHECK(err[0] != '\0');
	}
	CHECK_INT(nprogress, 0);
	/* A database that does not exist. */
	char *missing = url_with_db(pg_url(), "errand_t_no_such_database");
	char err[512] = "";
	CHECK_INT(migrate_apply(missing, NULL, err, sizeof err), -1);
	CHECK(strstr(err, "errand_t_no_such_database") != NULL);
	free(missing);
}

TEST_MAIN(TEST(test_table_in_order), TEST(test_apply_fresh_then_again), TEST(test_concurrent_apply),
	  TEST(test_failed_migration_rolls_back), TEST(test_bad_conninfo))
