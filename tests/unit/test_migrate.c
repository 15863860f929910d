/* Unit tests of migrate.c: the embedded migrations, applied to a real PostgreSQL. */
#include "migrate.h"
#include "testdb.h"

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
	char *url = tdb_scratch_create_empty("migrate");
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
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM errand_schema_migrations", 0, NULL),
		  MIGRATIONS_N);
	PGresult *res =
		tdb_exec(url, "SELECT version, name FROM errand_schema_migrations ORDER BY version",
			 0, NULL);
	CHECK_INT(PQntuples(res), MIGRATIONS_N);
	for (size_t i = 0; i < MIGRATIONS_N; i++) {
		CHECK_INT(atoi(PQgetvalue(res, (int)i, 0)), MIGRATIONS[i].version);
		CHECK_STR(PQgetvalue(res, (int)i, 1), MIGRATIONS[i].name);
	}
	PQclear(res);
	/* What the migrations make is there: the default project. */
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM projects", 0, NULL), 1);
	CHECK_INT(tdb_int(url, MIGRATE_VERSION_SQL, 0, NULL), migrate_latest_version());

	/* Again: nothing to do. */
	nprogress = 0;
	CHECK_INT(migrate_apply(url, on_progress, err, sizeof err), 0);
	CHECK_INT(nprogress, 0);
	CHECK_INT(migrate_apply(url, NULL, err, sizeof err), 0);
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM errand_schema_migrations", 0, NULL),
		  MIGRATIONS_N);
	free(url);
}

static void test_concurrent_apply(void)
{
	char *url = tdb_scratch_create_empty("migrate");
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
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM errand_schema_migrations", 0, NULL),
		  MIGRATIONS_N);
	CHECK_INT(tdb_int(url, "SELECT count(DISTINCT version) FROM errand_schema_migrations", 0,
			  NULL),
		  MIGRATIONS_N);
	char err[512] = "";
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM projects", 0, NULL), 1);
	free(url);
}

static void test_failed_migration_rolls_back(void)
{
	char *url = tdb_scratch_create_empty("migrate");
	/* A table in the way: the first migration cannot create its own. */
	PGresult *res = tdb_exec(url, "CREATE TABLE projects (x int)", 0, NULL);
	CHECK_INT(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	char err[512] = "";
	CHECK_INT(migrate_apply(url, on_progress, err, sizeof err), -1);
	CHECK(strstr(err, MIGRATIONS[0].name) != NULL);
	CHECK(strstr(err, "projects") != NULL);
	CHECK_INT(nprogress, 0);
	/* Nothing of it stayed, and nothing was recorded. */
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM errand_schema_migrations", 0, NULL), 0);
	CHECK_INT(tdb_int(url, "SELECT (to_regclass('principals') IS NULL)::int", 0, NULL), 1);
	CHECK_INT(migrate_current_version(url, err, sizeof err), 0);

	/* Out of the way, the next run applies everything. */
	PQclear(tdb_exec(url, "DROP TABLE projects", 0, NULL));
	CHECK_INT(migrate_apply(url, NULL, err, sizeof err), MIGRATIONS_N);
	CHECK_INT(migrate_current_version(url, err, sizeof err), migrate_latest_version());
	free(url);
}

static void test_bad_conninfo(void)
{
	char url[160];
	tdb_closed_url(url, sizeof url, "errand?connect_timeout=5");
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
	char *missing = tdb_url_with_db(tdb_pg_url(), "errand_t_no_such_database");
	char err[512] = "";
	CHECK_INT(migrate_apply(missing, NULL, err, sizeof err), -1);
	CHECK(strstr(err, "errand_t_no_such_database") != NULL);
	free(missing);
}

TEST_MAIN(TEST(test_table_in_order), TEST(test_apply_fresh_then_again), TEST(test_concurrent_apply),
	  TEST(test_failed_migration_rolls_back), TEST(test_bad_conninfo))
