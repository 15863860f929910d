/* Helpers of the module tests: scratch databases, the event loop, Redis and a fake HTTP server. */
#ifndef ERRAND_TESTDB_H
#define ERRAND_TESTDB_H

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "clock.h"
#include "db.h"
#include "ids.h"
#include "jobs.h"
#include "migrate.h"
#include "redis.h"
#include "testlib.h"

/* ===== Environment and scratch databases ===== */

/* The superuser URL of the test server; fails the test when it is not given. */
static inline const char *tdb_pg_url(void)
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
static inline char *tdb_url_with_db(const char *base, const char *db)
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

/* A blocking connection to `url`; fails the test when there is none. */
static inline PGconn *tdb_connect(const char *url)
{
	PGconn *pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to %s: %s", url, PQerrorMessage(pg));
		PQfinish(pg);
		exit(1);
	}
	return pg;
}

/* Runs `sql` on a connection of its own; the result outlives the connection. */
static inline PGresult *tdb_exec(const char *url, const char *sql, int nparams,
				 const char *const *params)
{
	PGconn *pg = tdb_connect(url);
	PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
	PQfinish(pg);
	return res;
}

/* Runs `sql`, which must succeed. */
static inline void tdb_ok(const char *url, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = tdb_exec(url, sql, nparams, params);
	if (!db_result_ok(res)) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
}

/* Runs `sql`, which must answer one row; copies its first cell ("(null)" for NULL) into `out`. */
static inline char *tdb_value(const char *url, const char *sql, int nparams,
			      const char *const *params, char *out, size_t outlen)
{
	PGresult *res = tdb_exec(url, sql, nparams, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "%s: %d rows: %s", sql, PQntuples(res), PQresultErrorMessage(res));
		exit(1);
	}
	snprintf(out, outlen, "%s", PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* The first cell of `sql` as an integer. */
static inline long long tdb_int(const char *url, const char *sql, int nparams,
				const char *const *params)
{
	char v[64];
	tdb_value(url, sql, nparams, params, v, sizeof v);
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (end == v || *end) {
		fprintf(stderr, "%s: not an integer: %s\n", sql, v);
		exit(1);
	}
	return n;
}

/* Runs `sql`, which must fail; copies its SQLSTATE into `state` (6 bytes). */
static inline const char *tdb_fails(const char *url, const char *sql, int nparams,
				    const char *const *params, char state[6])
{
	PGresult *res = tdb_exec(url, sql, nparams, params);
	if (db_result_ok(res)) {
		fprintf(stderr, "%s: succeeded, expected an error\n", sql);
		exit(1);
	}
	snprintf(state, 6, "%s", db_result_sqlstate(res));
	PQclear(res);
	return state;
}

static char tdb_scratch[64];
static pid_t tdb_scratch_owner;

/* Drops the scratch database at exit (also after a failed CHECK), in its creator only. */
static inline void tdb_scratch_drop(void)
{
	if (!tdb_scratch[0] || getpid() != tdb_scratch_owner)
		return;
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", tdb_scratch);
	PQclear(tdb_exec(tdb_pg_url(), sql, 0, NULL));
	tdb_scratch[0] = '\0';
}

/*
 * Creates an empty database of this test's own ("errand_t_<what>_<pid>_<random>",
 * its name in tdb_scratch), dropped at exit. Returns its URL (caller frees).
 */
static inline char *tdb_scratch_create_empty(const char *what)
{
	unsigned char rnd[4];
	CHECK_INT(ids_random_bytes(rnd, sizeof rnd), 0);
	snprintf(tdb_scratch, sizeof tdb_scratch, "errand_t_%s_%d_%02x%02x%02x%02x", what,
		 (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
	tdb_scratch_owner = getpid();
	atexit(tdb_scratch_drop);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", tdb_scratch);
	PGresult *res = tdb_exec(tdb_pg_url(), sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
	return tdb_url_with_db(tdb_pg_url(), tdb_scratch);
}

/*
 * Creates a database of this test's own ("errand_t_<what>_<pid>_<random>"),
 * migrated to the latest version and dropped at exit. Returns its URL
 * (caller frees).
 */
static inline char *tdb_scratch_create(const char *what)
{
	char *url = tdb_scratch_create_empty(what);
	char err[512] = "";
	int applied = migrate_apply(url, NULL, err, sizeof err);
	if (applied != (int)MIGRATIONS_N) {
		fprintf(stderr, "migrate_apply: %d: %s\n", applied, err);
		exit(1);
	}
	return url;
}

/*
 * Inserts a principal of `role` ("user", "agent", "admin") with the text[]
 * literal `caps` ("{a,b}"; NULL for none); writes its id into `id`.
 */
static inline char *tdb_principal(const char *url, const char *role, const char *caps,
				  char id[IDS_MAX_LEN])
{
	const char *prefix = strcmp(role, "user") == 0	  ? "usr"
			     : strcmp(role, "agent") == 0 ? "agt"
							  : "adm";
	CHECK_INT(ids_new(prefix, id), 0);
	const char *params[] = { id, role, caps ? caps : "{}" };
	tdb_ok(url,
	       "INSERT INTO principals (id, role, name, project_id, capabilities)"
	       " VALUES ($1, $2, 'test ' || $2, 'prj_00000000000000000000000000', $3::text[])",
	       3, params);
	return id;
}

/* Moves `cents` from the funding account into the wallet of `id` (as a top-up). */
static inline void tdb_fund(const char *url, const char *id, long long cents)
{
	char amount[24], key[IDS_MAX_LEN];
	snprintf(amount, sizeof amount, "%lld", cents);
	CHECK_INT(ids_new("top", key), 0);
	const char *params[] = { key, amount, id };
	tdb_ok(url,
	       "SELECT ledger_transfer('topup:' || $1, 'topup', NULL, $2::bigint, 'funding',"
	       " 'wallet:' || $3)",
	       3, params);
}

/*
 * The balance of ledger account `account` ("wallet:<id>", "fees", …);
 * "escrow" is the total of every job's escrow account.
 */
static inline long long tdb_balance(const char *url, const char *account)
{
	const char *params[] = { account };
	return tdb_int(url,
		       "SELECT coalesce(sum(balance), 0) FROM ledger_accounts"
		       " WHERE id = $1 OR ($1 = 'escrow' AND kind = 'escrow')",
		       1, params);
}

/* Fails the test unless ledger_violations (and job_violations if `jobs`) are empty. */
static inline void tdb_check_invariants(const char *url, int jobs)
{
	PGresult *res = tdb_exec(url,
				 jobs ? "SELECT violation, detail FROM ledger_violations UNION ALL"
					" SELECT violation, job_id FROM job_violations"
				      : "SELECT violation, detail FROM ledger_violations",
				 0, NULL);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(res); i++)
		fprintf(stderr, "invariant broken: %s: %s\n", PQgetvalue(res, i, 0),
			PQgetvalue(res, i, 1));
	CHECK_INT(PQntuples(res), 0);
	PQclear(res);
}

/*
 * Runs `sqls[i]` (one or more statements) on `n` connections of their own
 * at the same time, all sent before any answer is read. Returns for each
 * its first error, else its first result with rows, else its first result
 * (caller clears each and frees the array).
 */
static inline PGresult **tdb_parallel(const char *url, int n, const char *const *sqls)
{
	PGconn **conns = calloc((size_t)n, sizeof *conns);
	PGresult **out = calloc((size_t)n, sizeof *out);
	CHECK(conns != NULL && out != NULL);
	for (int i = 0; i < n; i++)
		conns[i] = tdb_connect(url);
	for (int i = 0; i < n; i++)
		CHECK_INT(PQsendQuery(conns[i], sqls[i]), 1);
	for (int i = 0; i < n; i++) {
		PGresult *res;
		while ((res = PQgetResult(conns[i])) != NULL) {
			ExecStatusType st = PQresultStatus(res), kept = PGRES_EMPTY_QUERY;
			if (out[i])
				kept = PQresultStatus(out[i]);
			int better = !out[i] || (!db_result_ok(res) && db_result_ok(out[i])) ||
				     (st == PGRES_TUPLES_OK && kept == PGRES_COMMAND_OK);
			if (better) {
				PQclear(out[i]);
				out[i] = res;
			} else {
				PQclear(res);
			}
		}
		PQfinish(conns[i]);
	}
	free(conns);
	return out;
}

/* A loopback port nothing listens on (bound, then closed). */
static inline int tdb_closed_port(void)
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

/* A PostgreSQL URL of database `db` ("errand", "postgres?connect_timeout=5") on a closed port. */
static inline char *tdb_closed_url(char *out, size_t outlen, const char *db)
{
	snprintf(out, outlen, "postgresql://errand@127.0.0.1:%d/%s", tdb_closed_port(), db);
	return out;
}

/* ===== The event loop ===== */

typedef int (*tdb_cond)(const void *arg);

static inline void tdb_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs `base` until `cond(arg)` holds or `timeout_ms` pass. Returns 1 when it holds. */
static inline int tdb_loop_until(struct event_base *base, tdb_cond cond, const void *arg,
				 int timeout_ms)
{
	struct event *wake = event_new(base, -1, EV_PERSIST, tdb_wake_cb, NULL);
	struct timeval tv = { 0, 10 * 1000 };
	event_add(wake, &tv);
	int64_t deadline = clock_mono_ms() + timeout_ms;
	while (!cond(arg) && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(wake);
	return cond(arg);
}

static inline int tdb_never(const void *arg)
{
	(void)arg;
	return 0;
}

/* Runs `base` for `ms` milliseconds. */
static inline void tdb_loop_for(struct event_base *base, int ms)
{
	tdb_loop_until(base, tdb_never, NULL, ms);
}

/* A nonzero int at `arg`. */
static inline int tdb_flag_set(const void *arg)
{
	return *(const int *)arg != 0;
}

/* A counter and the value it is waited to reach. */
typedef struct tdb_count_target {
	const int *count;
	int target;
} tdb_count_target;

static inline int tdb_count_reached(const void *arg)
{
	const tdb_count_target *t = arg;
	return *t->count >= t->target;
}

/* Runs `base` until `*count` grew by `n` or `timeout_ms` pass. Returns 1 when it did. */
static inline int tdb_loop_until_more(struct event_base *base, const int *count, int n,
				      int timeout_ms)
{
	tdb_count_target t = { count, *count + n };
	return tdb_loop_until(base, tdb_count_reached, &t, timeout_ms);
}

static inline int tdb_pool_ready(const void *pool)
{
	return db_pool_ready(pool);
}

static inline int tdb_pool_idle(const void *pool)
{
	return db_pool_pending(pool) == 0;
}

/* A pool on `url` with `opt` and `stmts` registered, not started yet. */
static inline db_pool *tdb_pool_new(struct event_base *base, const char *url, const db_options *opt,
				    const db_stmt *stmts, size_t n)
{
	db_pool *pool = db_pool_new(base, url, opt);
	CHECK(pool != NULL);
	CHECK_INT(db_pool_register(pool, stmts, n), 0);
	return pool;
}

/* Starts `pool`; when `wait_ms` > 0, runs `base` until it is ready (failing the test after). */
static inline db_pool *tdb_pool_start(struct event_base *base, db_pool *pool, int wait_ms)
{
	db_pool_start(pool);
	if (wait_ms > 0)
		CHECK(tdb_loop_until(base, tdb_pool_ready, pool, wait_ms));
	return pool;
}

/* A started pool of `size` connections on `url` with `stmts`, once it is ready. */
static inline db_pool *tdb_pool_open(struct event_base *base, const char *url, int size,
				     const db_stmt *stmts, size_t n)
{
	db_options opt = { .size = size, .queue_max = 10000, .timeout_ms = 20000 };
	return tdb_pool_start(base, tdb_pool_new(base, url, &opt, stmts, n), 10000);
}

/*
 * A started pool of two connections on `url` with `stmts` and the job
 * core's statements (JOBS_STMTS), once it is ready.
 */
static inline db_pool *tdb_pool_open_with_jobs(struct event_base *base, const char *url,
					       const db_stmt *stmts, size_t n)
{
	db_options opt = { .size = 2, .queue_max = 1000, .timeout_ms = 20000 };
	db_pool *pool = tdb_pool_new(base, url, &opt, stmts, n);
	CHECK_INT(db_pool_register(pool, JOBS_STMTS, JOBS_STMTS_N), 0);
	return tdb_pool_start(base, pool, 10000);
}

/* A started pool of one connection, with `stmts`, on a closed port (300 ms timeouts). */
static inline db_pool *tdb_pool_unreachable(struct event_base *base, const db_stmt *stmts, size_t n)
{
	char url[128];
	db_options opt = { .size = 1, .queue_max = 10, .timeout_ms = 300 };
	tdb_closed_url(url, sizeof url, "errand");
	return tdb_pool_start(base, tdb_pool_new(base, url, &opt, stmts, n), 0);
}

/* ===== Redis ===== */

/* Reads ERRAND_TEST_REDIS_URL (redis://host:port[/db]); fails the test when it is not given. */
static inline void tdb_redis_env(char *host, size_t hostlen, int *port)
{
	const char *url = getenv("ERRAND_TEST_REDIS_URL");
	if (!url || !*url) {
		fprintf(stderr, "ERRAND_TEST_REDIS_URL is not set: this test needs a running Redis "
				"(tests/run exports it)\n");
		exit(1);
	}
	const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
	const char *at = strchr(p, '@');
	if (at)
		p = at + 1;
	size_t n = strcspn(p, ":/");
	CHECK(n > 0 && n < hostlen);
	memcpy(host, p, n);
	host[n] = '\0';
	*port = p[n] == ':' ? atoi(p + n + 1) : 6379;
	CHECK(*port > 0);
}

static inline int tdb_redis_ready(const void *client)
{
	return redis_ready(client);
}

/* A started client ("test") of Redis at `host`:`port`; when `wait_ms` > 0, once it is ready. */
static inline redis_client *tdb_redis_open(struct event_base *base, const char *host, int port,
					   int wait_ms)
{
	redis_client *c = redis_client_new(base, host, port, 0, NULL, "test");
	CHECK(c != NULL);
	redis_client_start(c);
	if (wait_ms > 0)
		CHECK(tdb_loop_until(base, tdb_redis_ready, c, wait_ms));
	return c;
}

#define TDB_REDIS_KEYS_MAX 16

static char tdb_redis_keys[TDB_REDIS_KEYS_MAX][128];
static int tdb_redis_nkeys;
static pid_t tdb_redis_keys_owner;
static char tdb_redis_keys_host[256];
static int tdb_redis_keys_port;

/* Deletes the keys of tdb_redis_delete_at_exit() at exit (also after a failed CHECK), in their owner only. */
static inline void tdb_redis_keys_delete(void)
{
	if (tdb_redis_nkeys == 0 || getpid() != tdb_redis_keys_owner)
		return;
	redisContext *rc = redisConnect(tdb_redis_keys_host, tdb_redis_keys_port);
	if (rc && !rc->err) {
		for (int i = 0; i < tdb_redis_nkeys; i++)
			freeReplyObject(redisCommand(rc, "DEL %s", tdb_redis_keys[i]));
	}
	if (rc)
		redisFree(rc);
	tdb_redis_nkeys = 0;
}

/* Deletes `key` from the Redis of ERRAND_TEST_REDIS_URL at exit. Returns the kept copy. */
static inline const char *tdb_redis_delete_at_exit(const char *key)
{
	CHECK(tdb_redis_nkeys < TDB_REDIS_KEYS_MAX);
	if (tdb_redis_nkeys == 0) {
		tdb_redis_env(tdb_redis_keys_host, sizeof tdb_redis_keys_host,
			      &tdb_redis_keys_port);
		tdb_redis_keys_owner = getpid();
		atexit(tdb_redis_keys_delete);
	}
	char *k = tdb_redis_keys[tdb_redis_nkeys++];
	snprintf(k, sizeof tdb_redis_keys[0], "%s", key);
	return k;
}

/* A name unique to this test run: "errand:test:<pid>:<random>:<what>". */
static inline char *tdb_redis_name(char *out, size_t outlen, const char *what)
{
	unsigned char rnd[4];
	CHECK_INT(ids_random_bytes(rnd, sizeof rnd), 0);
	snprintf(out, outlen, "errand:test:%d:%02x%02x%02x%02x:%s", (int)getpid(), rnd[0], rnd[1],
		 rnd[2], rnd[3], what);
	return out;
}

/* A key unique to this test run (tdb_redis_name()), deleted at exit. */
static inline const char *tdb_redis_key(const char *what)
{
	char name[128];
	return tdb_redis_delete_at_exit(tdb_redis_name(name, sizeof name, what));
}

/* ===== A fake HTTP server: forked workers accepting on one loopback socket ===== */

/* One request as a worker read it. */
typedef struct fake_request {
	char method[16];
	char path[512];
	const char *headers; /* the header lines, NUL-terminated */
	const char *body;
	size_t len;
} fake_request;

/* Answers one request on `fd` (in a worker process); the connection is closed after. */
typedef void (*fake_handler)(int fd, const fake_request *req);

#define FAKE_WORKERS_MAX 16

static pid_t fake_pids[FAKE_WORKERS_MAX];
static int fake_nworkers;
static pid_t fake_owner;
static char fake_log_path[64];

/* Writes all of `len` bytes (a worker's write; errors end the connection quietly). */
static inline int fake_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends a whole response: status line, Content-Length, `extra` header lines ("A: b\r\n"), body. */
static inline void fake_reply(int fd, int status, const char *extra, const char *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, len, extra ? extra : "");
	if (fake_write(fd, head, (size_t)n) == 0 && len > 0)
		fake_write(fd, body, len);
}

/* Reads one request from `fd`, records it in the log and hands it to `h`. */
static inline void fake_serve(int fd, fake_handler h)
{
	size_t cap = 65536, used = 0;
	char *buf = malloc(cap + 1);
	char *end = NULL;
	if (!buf)
		return;
	while (!end) {
		if (used == cap)
			goto done;
		ssize_t r = read(fd, buf + used, cap - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto done;
		used += (size_t)r;
		buf[used] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	size_t head_len = (size_t)(end - buf) + 4, body_len = 0;
	for (const char *p = buf; p && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL)
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			body_len = strtoul(p + 15, NULL, 10);
	if (head_len + body_len > cap) {
		char *grown = realloc(buf, head_len + body_len + 1);
		if (!grown)
			goto done;
		buf = grown;
		end = buf + head_len - 4;
	}
	while (used < head_len + body_len) {
		ssize_t r = read(fd, buf + used, head_len + body_len - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto done;
		used += (size_t)r;
	}
	fake_request req;
	memset(&req, 0, sizeof req);
	if (sscanf(buf, "%15s %511s", req.method, req.path) != 2)
		goto done;
	*end = '\0';
	req.headers = buf;
	req.body = buf + head_len;
	req.len = body_len;
	buf[head_len + body_len] = '\0';
	int log = open(fake_log_path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (log >= 0) {
		char sep[64];
		int n = snprintf(sep, sizeof sep, "\n=== %zu\n", body_len);
		fake_write(log, buf, strlen(buf));
		fake_write(log, sep, (size_t)n);
		fake_write(log, req.body, body_len);
		fake_write(log, "\n===\n", 5);
		close(log);
	}
	h(fd, &req);
done:
	free(buf);
}

/* Stops the workers and removes the log; at exit too, in the process that started them. */
static inline void fake_stop(void)
{
	if (getpid() != fake_owner)
		return;
	for (int i = 0; i < fake_nworkers; i++) {
		kill(fake_pids[i], SIGKILL);
		waitpid(fake_pids[i], NULL, 0);
	}
	fake_nworkers = 0;
	if (fake_log_path[0])
		unlink(fake_log_path);
	fake_log_path[0] = '\0';
}

/*
 * Starts `workers` processes answering with `h` on a loopback port; returns
 * the port. Each request is also appended to a log (fake_log()).
 */
static inline int fake_start(fake_handler h, int workers)
{
	CHECK(workers >= 1 && workers <= FAKE_WORKERS_MAX);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(listen(fd, 512) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(fake_log_path, sizeof fake_log_path, "/tmp/errand_fake_%d.log", (int)getpid());
	unlink(fake_log_path);
	fake_owner = getpid();
	atexit(fake_stop);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != fake_owner)
				_exit(0);
			signal(SIGPIPE, SIG_IGN);
			for (;;) {
				int c = accept(fd, NULL, NULL);
				if (c < 0)
					continue;
				fake_serve(c, h);
				shutdown(c, SHUT_WR);
				close(c);
			}
		}
		fake_pids[fake_nworkers++] = pid;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* The requests the workers read so far, as logged (caller frees). */
static inline char *fake_log(void)
{
	FILE *f = fopen(fake_log_path, "rb");
	if (!f)
		return strdup("");
	char *text = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 65536;
			char *grown = realloc(text, cap);
			CHECK(grown != NULL);
			text = grown;
		}
		size_t r = fread(text + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	text[n] = '\0';
	return text;
}

/* How many times `needle` occurs in `hay`. */
static inline int tdb_count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#endif
