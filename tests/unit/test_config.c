/* Unit tests of config.c: defaults, every kind of bad value, secrets, URL parsing. */
#include "config.h"
#include "testlib.h"

#define DB_URL "postgresql://errand@localhost/errand"
#define REDIS_URL "redis://localhost"

/* Each test runs in its own child: start from an environment with just the two URLs. */
static void base_env(void)
{
	clearenv();
	setenv("ERRAND_DATABASE_URL", DB_URL, 1);
	setenv("ERRAND_REDIS_URL", REDIS_URL, 1);
}

/* Loads for `kind`, failing the test on an error. */
static void load_ok(config *c, proc_kind kind)
{
	char err[512] = "";
	if (config_load(c, kind, err, sizeof err) != 0) {
		fprintf(stderr, "config_load failed: %s\n", err);
		exit(1);
	}
}

/*
 * Sets `name` to `value` and expects the gateway's load to fail with a
 * message that starts with the name and contains `want` (when not NULL).
 * Returns the message in a static buffer.
 */
static const char *load_fails(proc_kind kind, const char *name, const char *value, const char *want)
{
	static char err[512];
	config c;
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
	err[0] = '\0';
	if (config_load(&c, kind, err, sizeof err) != -1) {
		fprintf(stderr, "accepted %s=%s\n", name, value ? value : "(unset)");
		exit(1);
	}
	config_free(&c);
	size_t n = strlen(name);
	if (strncmp(err, name, n) != 0 || err[n] != ':' || (want && !strstr(err, want))) {
		fprintf(stderr, "message for %s=%s: %s\n", name, value ? value : "(unset)", err);
		exit(1);
	}
	return err;
}

static void test_defaults(void)
{
	base_env();
	config c;
	load_ok(&c, PROC_GATEWAY);
	CHECK_INT(c.kind, PROC_GATEWAY);
	CHECK_STR(c.process, "errand-gateway");
	CHECK_STR(c.database_url, DB_URL);
	CHECK_STR(c.redis_url, REDIS_URL);
	CHECK_STR(c.redis_host, "localhost");
	CHECK_INT(c.redis_port, 6379);
	CHECK_INT(c.redis_db, 0);
	CHECK(c.redis_password == NULL);
	CHECK_STR(c.listen_host, "127.0.0.1");
	CHECK_INT(c.listen_port, 7800);
	CHECK_STR(c.public_url, "http://127.0.0.1:7800");

	char host[256], instance[300];
	CHECK(gethostname(host, sizeof host) == 0);
	snprintf(instance, sizeof instance, "%s-%ld", host, (long)getpid());
	CHECK_STR(c.instance, instance);

	CHECK_INT(c.log_level, LOG_LEVEL_INFO);
	CHECK_INT(c.db_pool_size, 4);
	CHECK_INT(c.db_queue_max, 10000);
	CHECK_INT(c.db_timeout_ms, 5000);
	CHECK_INT(c.max_body_bytes, 1048576);
	CHECK_INT(c.max_header_bytes, 16384);
	CHECK_INT(c.max_json_depth, 32);
	CHECK_INT(c.http_timeout_s, 30);
	CHECK_INT(c.shutdown_grace_s, 10);
	CHECK_STR(c.stream_prefix, "errand:");
	CHECK_INT(c.stream_maxlen, 100000);
	CHECK(c.cron_secret == NULL);
	CHECK_INT(c.hold_seconds, 60);
	CHECK_INT(c.sweep_seconds, 30);
	CHECK_INT(c.run_expiry_seconds, 900);
	CHECK_INT(c.run_delivery_deadline_seconds, 3600);
	static const int retry[] = { 0, 5, 300, 1800, 7200, 18000, 36000, 36000 };
	CHECK_INT(c.webhook_retry_n, 8);
	for (int i = 0; i < 8; i++)
		CHECK_INT(c.webhook_retry[i], retry[i]);
	CHECK_INT(c.webhook_allow_private, 0);
	CHECK_INT(c.platform_fee_bps, 0);
	CHECK_INT(c.max_output_bytes, 1048576);
	CHECK_INT(c.max_attachment_bytes, 10485760);
	CHECK(c.llm_url == NULL);
	CHECK_STR(c.llm_model, "gpt-4o-mini");
	CHECK(c.llm_api_key == NULL);
	CHECK(c.secrets_key == NULL);
	config_free(&c);
	CHECK(c.database_url == NULL);
	config_free(&c); /* twice is harmless */
	config_free(NULL);
}

static void test_listen_per_process(void)
{
	static const struct {
		proc_kind kind;
		const char *name;
		int port;
	} procs[] = {
		{ PROC_GATEWAY, "errand-gateway", 7800 },
		{ PROC_SCHEDULER, "errand-scheduler", 7801 },
		{ PROC_DISPATCHER, "errand-dispatcher", 7802 },
		{ PROC_VERIFIER, "errand-verifier", 7804 },
	};
	base_env();
	for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
		config c;
		load_ok(&c, procs[i].kind);
		CHECK_STR(c.process, procs[i].name);
		CHECK_STR(config_process_name(procs[i].kind), procs[i].name);
		CHECK_STR(c.listen_host, "127.0.0.1");
		CHECK_INT(c.listen_port, procs[i].port);
		/* Every process knows how agents reach the gateway. */
		CHECK_STR(c.public_url, "http://127.0.0.1:7800");
		config_free(&c);
	}
	config c;
	load_ok(&c, PROC_CTL);
	CHECK_STR(c.process, "errandctl");
	CHECK(c.listen_host == NULL);
	CHECK_INT(c.listen_port, 0);
	config_free(&c);

	setenv("ERRAND_SCHEDULER_ADDR", "0.0.0.0:0", 1);
	setenv("ERRAND_HTTP_ADDR", "[::1]:9000", 1);
	load_ok(&c, PROC_SCHEDULER);
	CHECK_STR(c.listen_host, "0.0.0.0");
	CHECK_INT(c.listen_port, 0);
	CHECK_STR(c.public_url, "http://[::1]:9000");
	config_free(&c);
	load_ok(&c, PROC_GATEWAY);
	CHECK_STR(c.listen_host, "::1");
	CHECK_INT(c.listen_port, 9000);
	config_free(&c);

	setenv("ERRAND_HTTP_ADDR", "0.0.0.0:8080", 1);
	load_ok(&c, PROC_DISPATCHER);
	CHECK_STR(c.public_url, "http://127.0.0.1:8080");
	config_free(&c);

	/* Another process's address is not read: a bad one does not matter. */
	setenv("ERRAND_VERIFIER_ADDR", "nonsense", 1);
	load_ok(&c, PROC_GATEWAY);
	config_free(&c);
	load_fails(PROC_VERIFIER, "ERRAND_VERIFIER_ADDR", "nonsense", "'nonsense'");
}

static void test_overrides(void)
{
	base_env();
	setenv("ERRAND_PUBLIC_URL", "https://errand.example.com/", 1);
	setenv("ERRAND_INSTANCE", "gw-1", 1);
	setenv("ERRAND_LOG_LEVEL", "debug", 1);
	setenv("ERRAND_DB_POOL_SIZE", "64", 1);
	setenv("ERRAND_MAX_BODY_BYTES", "1024", 1);
	setenv("ERRAND_STREAM_MAXLEN", "5", 1);
	setenv("ERRAND_STREAM_PREFIX", "test:", 1);
	setenv("ERRAND_WEBHOOK_RETRY_SCHEDULE", "7", 1);
	setenv("ERRAND_WEBHOOK_ALLOW_PRIVATE", "YES", 1);
	setenv("ERRAND_PLATFORM_FEE_BPS", "10000", 1);
	setenv("ERRAND_CRON_SECRET", "0123456789abcdef", 1);
	setenv("ERRAND_SECRETS_KEY",
	       "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF", 1);
	setenv("ERRAND_SHUTDOWN_GRACE_SECONDS", "0", 1);
	config c;
	load_ok(&c, PROC_GATEWAY);
	CHECK_STR(c.public_url, "https://errand.example.com");
	CHECK_STR(c.instance, "gw-1");
	CHECK_INT(c.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(c.db_pool_size, 64);
	CHECK_INT(c.max_body_bytes, 1024);
	CHECK_INT(c.stream_maxlen, 5);
	CHECK_STR(c.stream_prefix, "test:");
	CHECK_INT(c.webhook_retry_n, 1);
	CHECK_INT(c.webhook_retry[0], 7);
	CHECK_INT(c.webhook_allow_private, 1);
	CHECK_INT(c.platform_fee_bps, 10000);
	CHECK_STR(c.cron_secret, "0123456789abcdef");
	CHECK_INT(strlen(c.secrets_key), 64);
	CHECK_INT(c.shutdown_grace_s, 0);
	config_free(&c);
}

static void test_empty_is_unset(void)
{
	base_env();
	setenv("ERRAND_HOLD_SECONDS", "", 1);
	setenv("ERRAND_CRON_SECRET", "", 1);
	config c;
	load_ok(&c, PROC_GATEWAY);
	CHECK_INT(c.hold_seconds, 60);
	CHECK(c.cron_secret == NULL);
	config_free(&c);
	load_fails(PROC_GATEWAY, "ERRAND_DATABASE_URL", "", "required");
}

static void test_required(void)
{
	static const proc_kind kinds[] = { PROC_GATEWAY, PROC_SCHEDULER, PROC_DISPATCHER,
					   PROC_VERIFIER, PROC_CTL };
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		base_env();
		load_fails(kinds[i], "ERRAND_DATABASE_URL", NULL, "required");
		if (kinds[i] == PROC_CTL)
			continue; /* errandctl talks to PostgreSQL only */
		base_env();
		load_fails(kinds[i], "ERRAND_REDIS_URL", NULL, "required");
	}
	base_env();
	unsetenv("ERRAND_REDIS_URL");
	config c;
	load_ok(&c, PROC_CTL);
	CHECK(c.redis_url == NULL);
	config_free(&c);
}

static void test_bad_integers(void)
{
	base_env();
	const char *err = load_fails(PROC_GATEWAY, "ERRAND_HOLD_SECONDS", "x", NULL);
	CHECK_STR(err, "ERRAND_HOLD_SECONDS: expected an integer from 1 to 86400, got 'x'");
	static const char *const bad[] = { "0",	    "86401", "-5",   " 5",
					   "5 ",    "+5",    "0x10", "1e3",
					   "12abc", "5.0",   "-",    "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		load_fails(PROC_GATEWAY, "ERRAND_HOLD_SECONDS", bad[i], "from 1 to 86400");
	base_env();

	load_fails(PROC_GATEWAY, "ERRAND_DB_POOL_SIZE", "65", "from 1 to 64");
	load_fails(PROC_GATEWAY, "ERRAND_DB_POOL_SIZE", "0", "from 1 to 64");
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_MAX_BODY_BYTES", "1023", "from 1024 to 1073741824");
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_MAX_JSON_DEPTH", "513", "from 1 to 512");
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_PLATFORM_FEE_BPS", "10001", "from 0 to 10000");
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_STREAM_MAXLEN", "0", NULL);
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_MAX_ATTACHMENT_BYTES", "10MiB", "'10MiB'");
	base_env();
	load_fails(PROC_GATEWAY, "ERRAND_DB_TIMEOUT_MS", "-1", NULL);

	/* Server-only settings are not read by errandctl. */
	base_env();
	setenv("ERRAND_MAX_JSON_DEPTH", "9999", 1);
	config c;
	load_ok(&c, PROC_CTL);
	CHECK_INT(c.max_json_depth, 32);
	config_free(&c);
}

static void test_bad_other_kinds(void)
{
	base_env();
	const char *err = load_fails(PROC_GATEWAY, "ERRAND_WEBHOOK_ALLOW_PRIVATE", "maybe", NULL);
	CHECK(strstr(err, "got 'maybe'") != NULL);
	static const char *const truths[] = { "1", "true", "TRUE", "yes", "on" };
	static const char *const lies[] = { "0", "false", "no", "off", "Off" };
	for (size_t i = 0; i < 5; i++) {
		config c;
		setenv("ERRAND_WEBHOOK_ALLOW_PRIVATE", truths[i], 1);
		load_ok(&c, PROC_GATEWAY);
		CHECK_INT(c.webhook_allow_private, 1);
		config_free(&c);
		setenv("ERRAND_WEBHOOK_ALLOW_PRIVATE", lies[i], 1);
		load_ok(&c, PROC_GATEWAY);
		CHECK_INT(c.webhook_allow_private, 0);
		config_free(&c);
	}
	base_env();

	load_fails(PROC_GATEWAY, "ERRAND_LOG_LEVEL", "verbose", "'verbose'");
	base_env();

	static const char *const addrs[] = { "localhost", "host:65536", ":80",	 "host:",
					     "host:8o",	  "[::1]",	"[]:80", "::1:80",
					     "a b:80",	  "host:-1" };
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
		load_fails(PROC_GATEWAY, "ERRAND_HTTP_ADDR", addrs[i], "host:port");
	base_env();

	static const char *const urls[] = { "ftp://x",	     "errand.example.com", "http://",
					    "http:///x",     "http://a b",	   "http://host:0",
					    "http://host:x/" };
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
		load_fails(PROC_GATEWAY, "ERRAND_PUBLIC_URL", urls[i], "http:// or https://");
	base_env();

	/* The LLM settings are the gateway's and the verifier's: the scheduler ignores them. */
	setenv("ERRAND_LLM_URL", "not a url", 1);
	config c;
	load_ok(&c, PROC_SCHEDULER);
	CHECK(c.llm_url == NULL);
	config_free(&c);
	load_fails(PROC_GATEWAY, "ERRAND_LLM_URL", "not a url", "'not a url'");
	load_fails(PROC_VERIFIER, "ERRAND_LLM_URL", "not a url", "'not a url'");
	setenv("ERRAND_LLM_URL", "https://llm.example.com/v1/chat/completions", 1);
	load_ok(&c, PROC_VERIFIER);
	CHECK_STR(c.llm_url, "https://llm.example.com/v1/chat/completions");
	config_free(&c);
	base_env();

	static const char *const schedules[] = { "1,,2", "1,x",	 "1,",	   ",1",
						 "-1",	 "1, 2", "604801", "1;2" };
	for (size_t i = 0; i < sizeof schedules / sizeof schedules[0]; i++)
		load_fails(PROC_GATEWAY, "ERRAND_WEBHOOK_RETRY_SCHEDULE", schedules[i],
			   "comma-separated");
	char many[200] = "";
	for (int i = 0; i < 33; i++)
		strcat(many, i ? ",1" : "1");
	load_fails(PROC_GATEWAY, "ERRAND_WEBHOOK_RETRY_SCHEDULE", many, "1 to 32");
	many[strlen(many) - 2] = '\0'; /* 32 steps */
	setenv("ERRAND_WEBHOOK_RETRY_SCHEDULE", many, 1);
	load_ok(&c, PROC_GATEWAY);
	CHECK_INT(c.webhook_retry_n, 32);
	config_free(&c);
	base_env();

	load_fails(PROC_GATEWAY, "ERRAND_STREAM_PREFIX",
		   "0123456789012345678901234567890123456789012345678901234567890123456789",
		   "at most 64 characters");
}

/* Secrets are never echoed, not even in part. */
static void test_secrets_not_echoed(void)
{
	base_env();
	const char *err = load_fails(PROC_GATEWAY, "ERRAND_SECRETS_KEY", "supersecretvalue", NULL);
	CHECK(strstr(err, "64 hex digits") != NULL);
	CHECK(strstr(err, "supersecret") == NULL);
	char hex63[64];
	memset(hex63, 'a', 63);
	hex63[63] = '\0';
	load_fails(PROC_GATEWAY, "ERRAND_SECRETS_KEY", hex63, "got 63 characters (not shown)");
	char nonhex[65];
	memset(nonhex, 'a', 64);
	nonhex[63] = 'g';
	nonhex[64] = '\0';
	err = load_fails(PROC_GATEWAY, "ERRAND_SECRETS_KEY", nonhex, NULL);
	CHECK(strstr(err, "aaaa") == NULL);
	base_env();

	err = load_fails(PROC_GATEWAY, "ERRAND_CRON_SECRET", "hunter2", "at least");
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK_STR(err, "ERRAND_CRON_SECRET: expected at least 16 characters, got 7 characters "
		       "(not shown)");
	base_env();

	char longkey[5000];
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	err = load_fails(PROC_VERIFIER, "ERRAND_LLM_API_KEY", longkey, NULL);
	CHECK(strstr(err, "kkkk") == NULL);
	base_env();

	err = load_fails(PROC_GATEWAY, "ERRAND_REDIS_URL", "redis://:hunter2@host:notaport", NULL);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(strstr(err, "redis://:***@host:notaport") != NULL);
	base_env();

	err = load_fails(PROC_GATEWAY, "ERRAND_DATABASE_URL",
			 "postgresql://u:hunter2@h/db?bogus_option=1", NULL);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(strstr(err, "u:***@h") != NULL);
	base_env();
	err = load_fails(PROC_GATEWAY, "ERRAND_DATABASE_URL", "host=h password=hunter2 bogus=1",
			 NULL);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(strstr(err, "password=***") != NULL);
	base_env();
	err = load_fails(PROC_GATEWAY, "ERRAND_DATABASE_URL",
			 "host=h password = 'hun ter2' bogus=1", NULL);
	CHECK(strstr(err, "hun") == NULL && strstr(err, "ter2") == NULL);
}

static void test_redis_url(void)
{
	static const struct {
		const char *url;
		const char *host;
		int port, db;
		const char *password;
	} good[] = {
		{ "redis://localhost", "localhost", 6379, 0, NULL },
		{ "redis://localhost/", "localhost", 6379, 0, NULL },
		{ "redis://10.0.0.1:6380/3", "10.0.0.1", 6380, 3, NULL },
		{ "redis://:s3cret@cache:7000", "cache", 7000, 0, "s3cret" },
		{ "redis://:p%40ss%2fw@cache/15", "cache", 6379, 15, "p@ss/w" },
		{ "redis://:@cache", "cache", 6379, 0, NULL },
		{ "redis://[::1]:7001/2", "::1", 7001, 2, NULL },
		{ "REDIS://h", "h", 6379, 0, NULL },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		base_env();
		setenv("ERRAND_REDIS_URL", good[i].url, 1);
		config c;
		load_ok(&c, PROC_DISPATCHER);
		CHECK_STR(c.redis_url, good[i].url);
		CHECK_STR(c.redis_host, good[i].host);
		CHECK_INT(c.redis_port, good[i].port);
		CHECK_INT(c.redis_db, good[i].db);
		if (good[i].password)
			CHECK_STR(c.redis_password, good[i].password);
		else
			CHECK(c.redis_password == NULL);
		config_free(&c);
	}
	static const char *const bad[] = {
		"http://localhost", "rediss://localhost", "redis://",	    "redis://:pw@",
		"redis://h:0",	    "redis://h:65536",	  "redis://h/x",    "redis://h/1/2",
		"redis://h/-1",	    "redis://user:pw@h",  "redis://:p%4@h", "redis://:p%00@h",
		"redis://h?db=1",   "redis:/h",		  "localhost:6379",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		base_env();
		load_fails(PROC_GATEWAY, "ERRAND_REDIS_URL", bad[i], "redis://[:password@]host");
	}
}

static void test_database_url(void)
{
	static const char *const good[] = {
		"postgresql://localhost/errand",
		"postgres://u:p@db.example.com:5433/errand?sslmode=require",
		"postgresql://",
		"host=localhost dbname=errand",
		"host=/run/postgresql dbname=errand user=errand password='a b'",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		base_env();
		setenv("ERRAND_DATABASE_URL", good[i], 1);
		config c;
		load_ok(&c, PROC_CTL);
		CHECK_STR(c.database_url, good[i]);
		config_free(&c);
	}
	static const char *const bad[] = { "localhost", "mysql://localhost/errand",
					   "host=localhost nonsense=1", "host='unterminated" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		base_env();
		load_fails(PROC_GATEWAY, "ERRAND_DATABASE_URL", bad[i], "postgresql://");
	}
}

static void test_table_json(void)
{
	static const char *const names[] = {
		"ERRAND_DATABASE_URL",
		"ERRAND_REDIS_URL",
		"ERRAND_HTTP_ADDR",
		"ERRAND_SCHEDULER_ADDR",
		"ERRAND_DISPATCHER_ADDR",
		"ERRAND_VERIFIER_ADDR",
		"ERRAND_PUBLIC_URL",
		"ERRAND_INSTANCE",
		"ERRAND_LOG_LEVEL",
		"ERRAND_DB_POOL_SIZE",
		"ERRAND_DB_QUEUE_MAX",
		"ERRAND_DB_TIMEOUT_MS",
		"ERRAND_MAX_BODY_BYTES",
		"ERRAND_MAX_HEADER_BYTES",
		"ERRAND_MAX_JSON_DEPTH",
		"ERRAND_HTTP_TIMEOUT_SECONDS",
		"ERRAND_SHUTDOWN_GRACE_SECONDS",
		"ERRAND_STREAM_PREFIX",
		"ERRAND_STREAM_MAXLEN",
		"ERRAND_CRON_SECRET",
		"ERRAND_HOLD_SECONDS",
		"ERRAND_SWEEP_SECONDS",
		"ERRAND_RUN_EXPIRY_SECONDS",
		"ERRAND_RUN_DELIVERY_DEADLINE_SECONDS",
		"ERRAND_WEBHOOK_RETRY_SCHEDULE",
		"ERRAND_WEBHOOK_ALLOW_PRIVATE",
		"ERRAND_WEBHOOK_TIMEOUT_MS",
		"ERRAND_DISPATCH_MAX_INFLIGHT",
		"ERRAND_DISPATCH_MAX_INFLIGHT_PER_RECEIVER",
		"ERRAND_VERIFY_LEASE_SECONDS",
		"ERRAND_PLATFORM_FEE_BPS",
		"ERRAND_MAX_OUTPUT_BYTES",
		"ERRAND_MAX_ATTACHMENT_BYTES",
		"ERRAND_LLM_URL",
		"ERRAND_LLM_MODEL",
		"ERRAND_LLM_API_KEY",
		"ERRAND_LLM_TIMEOUT_MS",
		"ERRAND_SECRETS_KEY",
	};
	json_t *table = config_table_json();
	CHECK(json_is_array(table));
	CHECK_INT(json_array_size(table), sizeof names / sizeof names[0]);
	for (size_t i = 0; i < json_array_size(table); i++) {
		json_t *row = json_array_get(table, i);
		CHECK_STR(json_string_value(json_object_get(row, "name")), names[i]);
		const char *desc = json_string_value(json_object_get(row, "description"));
		CHECK(desc && strlen(desc) > 10);
		json_t *procs = json_object_get(row, "processes");
		CHECK(json_is_array(procs) && json_array_size(procs) >= 1);
		json_t *def = json_object_get(row, "default");
		CHECK(json_is_string(def) || json_is_null(def));
		CHECK(json_is_boolean(json_object_get(row, "required")));
	}
	json_t *hold = json_array_get(table, 20);
	CHECK_STR(json_string_value(json_object_get(hold, "default")), "60");
	json_t *db = json_array_get(table, 0);
	CHECK(json_is_null(json_object_get(db, "default")));
	CHECK(json_is_true(json_object_get(db, "required")));
	CHECK_INT(json_array_size(json_object_get(db, "processes")), 5);
	json_t *sched = json_array_get(table, 3);
	CHECK_INT(json_array_size(json_object_get(sched, "processes")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(sched, "processes"), 0)),
		  "errand-scheduler");
	/* the last row, ERRAND_SECRETS_KEY, is a secret */
	json_t *last = json_array_get(table, json_array_size(table) - 1);
	CHECK_STR(json_string_value(json_object_get(last, "name")), "ERRAND_SECRETS_KEY");
	CHECK(json_is_true(json_object_get(last, "secret")));
	json_decref(table);
}

static void test_log_summary(void)
{
	base_env();
	setenv("ERRAND_REDIS_URL", "redis://:hunter2@cache:6380/1", 1);
	setenv("ERRAND_DATABASE_URL", "postgresql://errand:pgpass99@db/errand", 1);
	setenv("ERRAND_CRON_SECRET", "cron-secret-0123456789", 1);
	setenv("ERRAND_SECRETS_KEY",
	       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
	config c;
	load_ok(&c, PROC_GATEWAY);
	log_init("errand-gateway", LOG_LEVEL_INFO);

	int fds[2];
	CHECK(pipe(fds) == 0);
	int saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	config_log_summary(&c);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char buf[16384];
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	CHECK(n > 0);
	buf[n] = '\0';
	close(fds[0]);

	CHECK(strstr(buf, "hunter2") == NULL);
	CHECK(strstr(buf, "pgpass99") == NULL);
	CHECK(strstr(buf, "cron-secret") == NULL);
	CHECK(strstr(buf, "00112233") == NULL);
	json_error_t jerr;
	json_t *line = json_loads(buf, 0, &jerr);
	CHECK(line != NULL);
	json_t *cfg = json_object_get(line, "config");
	CHECK(json_is_object(cfg));
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_REDIS_URL")),
		  "redis://:***@cache:6380/1");
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_DATABASE_URL")),
		  "postgresql://errand:***@db/errand");
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_CRON_SECRET")), "(set)");
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_SECRETS_KEY")), "(set)");
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_HTTP_ADDR")), "127.0.0.1:7800");
	CHECK_INT(json_integer_value(json_object_get(cfg, "ERRAND_HOLD_SECONDS")), 60);
	CHECK(json_is_false(json_object_get(cfg, "ERRAND_WEBHOOK_ALLOW_PRIVATE")));
	CHECK_STR(json_string_value(json_object_get(cfg, "ERRAND_LOG_LEVEL")), "info");
	CHECK_INT(json_array_size(json_object_get(cfg, "ERRAND_WEBHOOK_RETRY_SCHEDULE")), 8);
	/* Not the gateway's: not shown. */
	CHECK(json_object_get(cfg, "ERRAND_RUN_EXPIRY_SECONDS") != NULL);
	CHECK(json_object_get(cfg, "ERRAND_DISPATCHER_ADDR") == NULL);
	CHECK(json_object_get(cfg, "ERRAND_SCHEDULER_ADDR") == NULL);
	json_decref(line);
	config_free(&c);
}

TEST_MAIN(TEST(test_defaults), TEST(test_listen_per_process), TEST(test_overrides),
	  TEST(test_empty_is_unset), TEST(test_required), TEST(test_bad_integers),
	  TEST(test_bad_other_kinds), TEST(test_secrets_not_echoed), TEST(test_redis_url),
	  TEST(test_database_url), TEST(test_table_json), TEST(test_log_summary))
