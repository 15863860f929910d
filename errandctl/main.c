/* errandctl: the administration command line (migrations, principals, keys). */
#include <event2/event.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "migrate.h"
#include "principals.h"
#include "seal.h"

#define EXIT_USAGE 2

static const char USAGE[] =
	"usage: errandctl COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  migrate                        apply the schema migrations this build carries\n"
	"  schema-version                 print the database's and this build's schema versions\n"
	"  principal create --role ROLE --name NAME [--capability CAP]... [--webhook-url URL]\n"
	"                                 create a user, agent or admin and its first API key\n"
	"  key create PRINCIPAL_ID        issue another API key for a principal\n"
	"  topup PRINCIPAL_ID AMOUNT_CENTS  move money from outside into a wallet\n"
	"  settings                       print every ERRAND_* setting: kind, default, processes\n"
	"\n"
	"Reads ERRAND_DATABASE_URL (and the other ERRAND_* settings) from the environment.\n"
	"Prints JSON on stdout; API keys are shown once.\n";

/* The one asynchronous operation errandctl runs, and its outcome. */
typedef struct ctl_run {
	struct event_base *base;
	int status;
} ctl_run;

static void on_migrated(const migration *m)
{
	fprintf(stderr, "applied %s\n", m->name);
}

static int cmd_migrate(const config *cfg)
{
	char err[1024];
	int n = migrate_apply(cfg->database_url, on_migrated, err, sizeof err);
	if (n < 0) {
		fprintf(stderr, "errandctl migrate: %s\n", err);
		return 1;
	}
	printf("{\"applied\":%d,\"version\":%d}\n", n, migrate_latest_version());
	return 0;
}

static int cmd_schema_version(const config *cfg)
{
	char err[1024];
	int have = migrate_current_version(cfg->database_url, err, sizeof err);
	if (have < 0) {
		fprintf(stderr, "errandctl schema-version: %s\n", err);
		return 1;
	}
	printf("{\"database\":%d,\"build\":%d}\n", have, migrate_latest_version());
	return 0;
}

static int check_schema(void *arg, const char *value)
{
	(void)arg;
	int have = value ? atoi(value) : 0;
	if (have >= migrate_latest_version())
		return 0;
	fprintf(stderr,
		"errandctl: the database schema is at version %d and this build needs %d: "
		"run `errandctl migrate` first\n",
		have, migrate_latest_version());
	return -1;
}

static void on_fatal(void *arg, const char *why)
{
	(void)why;
	ctl_run *run = arg;
	run->status = EXIT_USAGE;
	event_base_loopbreak(run->base);
}

static void on_created(void *arg, json_t *created, const char *code, const char *message)
{
	ctl_run *run = arg;
	if (created) {
		char *text = json_dumps(created, JSON_COMPACT);
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(created);
		run->status = 0;
	} else {
		fprintf(stderr, "errandctl: %s: %s\n", code, message);
		run->status = 1;
	}
	event_base_loopbreak(run->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ctl_run *run = arg;
	fprintf(stderr, "errandctl: the database did not answer in time\n");
	run->status = 1;
	event_base_loopbreak(run->base);
}

/* The operation errandctl runs: which shared function, with what. */
typedef struct ctl_op {
	const principal_spec *spec; /* principal create */
	const char *principal_id;   /* key create, topup */
	int64_t amount_cents;	    /* topup */
} ctl_op;

/* Starts `op` on `db`; the answer reaches on_created. */
static void start_op(db_pool *db, const ctl_op *op, ctl_run *run)
{
	if (op->spec)
		principals_create(db, op->spec, on_created, run);
	else if (op->amount_cents > 0)
		ledger_topup(db, op->principal_id, op->amount_cents, NULL, on_created, run);
	else
		principals_issue_key(db, op->principal_id, on_created, run);
}

/*
 * Runs one of the shared modules' operations on a one-connection pool: the
 * same code path as the gateway's admin routes.
 */
static int run_async(const config *cfg, const ctl_op *op)
{
	ctl_run run = { .base = event_base_new(), .status = 1 };
	db_check check = { .sql = MIGRATE_VERSION_SQL, .verify = check_schema, .arg = NULL };
	db_options opt = { .size = 1,
			   .queue_max = 16,
			   .timeout_ms = cfg->db_timeout_ms,
			   .check = &check,
			   .on_fatal = on_fatal,
			   .fatal_arg = &run };
	db_pool *db = db_pool_new(run.base, cfg->database_url, &opt);
	if (!db || db_pool_register(db, PRINCIPALS_STMTS, PRINCIPALS_STMTS_N) != 0 ||
	    db_pool_register(db, LEDGER_STMTS, LEDGER_STMTS_N) != 0) {
		fprintf(stderr, "errandctl: cannot set up the database pool\n");
		db_pool_free(db);
		event_base_free(run.base);
		return 1;
	}
	db_pool_start(db);
	start_op(db, op, &run);
	struct event *timeout = evtimer_new(run.base, on_timeout, &run);
	struct timeval tv = { cfg->db_timeout_ms / 1000 + 5, 0 };
	evtimer_add(timeout, &tv);
	event_base_dispatch(run.base);
	event_free(timeout);
	db_pool_free(db);
	event_base_free(run.base);
	return run.status;
}

/* errandctl topup PRINCIPAL_ID AMOUNT_CENTS */
static int cmd_topup(const config *cfg, const char *principal_id, const char *amount)
{
	char *end = NULL;
	long long v = strtoll(amount, &end, 10);
	if (!*amount || *end || v < 1 || v > LEDGER_TOPUP_MAX) {
		fprintf(stderr, "errandctl topup: AMOUNT_CENTS: expected an integer from 1 to %d\n",
			LEDGER_TOPUP_MAX);
		return EXIT_USAGE;
	}
	ctl_op op = { .principal_id = principal_id, .amount_cents = v };
	return run_async(cfg, &op);
}

static int cmd_principal_create(const config *cfg, int argc, char **argv)
{
	static const struct option opts[] = { { "role", required_argument, NULL, 'r' },
					      { "name", required_argument, NULL, 'n' },
					      { "capability", required_argument, NULL, 'c' },
					      { "webhook-url", required_argument, NULL, 'w' },
					      { NULL, 0, NULL, 0 } };
	json_t *body = json_object();
	json_t *caps = json_array();
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			json_object_set_new(body, "role", json_string(optarg));
			break;
		case 'n':
			json_object_set_new(body, "name", json_string(optarg));
			break;
		case 'c':
			json_array_append_new(caps, json_string(optarg));
			break;
		case 'w':
			json_object_set_new(body, "webhook_url", json_string(optarg));
			break;
		default:
			fputs(USAGE, stderr);
			json_decref(body);
			json_decref(caps);
			return EXIT_USAGE;
		}
	}
	if (json_array_size(caps) > 0)
		json_object_set(body, "capabilities", caps);
	json_decref(caps);
	principal_spec spec;
	json_error err;
	int status;
	if (principals_spec_parse(body, &spec, &err) != 0) {
		fprintf(stderr, "errandctl principal create: --%s: %s\n",
			strcmp(err.field, "webhook_url") == 0 ? "webhook-url" : err.field,
			err.message);
		status = EXIT_USAGE;
	} else {
		unsigned char key[SEAL_KEY_LEN];
		if (seal_key_parse(cfg->secrets_key, key) == 0)
			spec.secrets_key = key;
		ctl_op op = { .spec = &spec };
		status = run_async(cfg, &op);
	}
	json_decref(body);
	return status;
}

int main(int argc, char **argv)
{
	log_init("errandctl", LOG_LEVEL_ERROR);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "settings") == 0 && argc == 2) {
		json_t *table = config_table_json();
		char *text = table ? json_dumps(table, JSON_INDENT(2)) : NULL;
		json_decref(table);
		if (!text)
			return 1;
		printf("%s\n", text);
		free(text);
		return 0;
	}
	config cfg;
	char err[512];
	if (config_load(&cfg, PROC_CTL, err, sizeof err) != 0) {
		fprintf(stderr, "errandctl: %s\n", err);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	int status = EXIT_USAGE;
	const char *cmd = argv[1];
	if (strcmp(cmd, "migrate") == 0 && argc == 2) {
		status = cmd_migrate(&cfg);
	} else if (strcmp(cmd, "schema-version") == 0 && argc == 2) {
		status = cmd_schema_version(&cfg);
	} else if (strcmp(cmd, "principal") == 0 && argc >= 3 && strcmp(argv[2], "create") == 0) {
		status = cmd_principal_create(&cfg, argc - 2, argv + 2);
	} else if (strcmp(cmd, "key") == 0 && argc == 4 && strcmp(argv[2], "create") == 0) {
		ctl_op op = { .principal_id = argv[3] };
		status = run_async(&cfg, &op);
	} else if (strcmp(cmd, "topup") == 0 && argc == 4) {
		status = cmd_topup(&cfg, argv[2], argv[3]);
	} else {
		fprintf(stderr, "errandctl: unknown command or wrong arguments\n\n%s", USAGE);
	}
	config_free(&cfg);
	return status;
}
