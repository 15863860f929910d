/* Configuration: every ERRAND_* environment variable, read and checked once at start. */
#ifndef ERRAND_CONFIG_H
#define ERRAND_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "log.h"

/* The processes; each reads the settings that concern it. */
typedef enum {
	PROC_GATEWAY,
	PROC_SCHEDULER,
	PROC_DISPATCHER,
	PROC_VERIFIER,
	PROC_CTL,
} proc_kind;

#define CONFIG_MAX_RETRY_STEPS 32

typedef struct config {
	proc_kind kind;
	const char *process; /* "errand-gateway", … */

	char *database_url; /* ERRAND_DATABASE_URL, required */
	char *redis_url;    /* ERRAND_REDIS_URL, required */
	char *redis_host;   /* parsed from redis_url */
	int redis_port;
	int redis_db;
	char *redis_password; /* NULL when none */

	char *listen_host; /* this process's HTTP address: gateway ERRAND_HTTP_ADDR, */
	int listen_port;   /* others ERRAND_<NAME>_ADDR */
	char *public_url;  /* ERRAND_PUBLIC_URL: how agents reach the gateway */
	char *instance;	   /* ERRAND_INSTANCE: consumer name; default host-pid */

	log_level log_level;	 /* ERRAND_LOG_LEVEL */
	int db_pool_size;	 /* ERRAND_DB_POOL_SIZE */
	int db_queue_max;	 /* ERRAND_DB_QUEUE_MAX */
	int db_timeout_ms;	 /* ERRAND_DB_TIMEOUT_MS */
	size_t max_body_bytes;	 /* ERRAND_MAX_BODY_BYTES */
	size_t max_header_bytes; /* ERRAND_MAX_HEADER_BYTES */
	int max_json_depth;	 /* ERRAND_MAX_JSON_DEPTH */
	int http_timeout_s;	 /* ERRAND_HTTP_TIMEOUT_SECONDS */
	int shutdown_grace_s;	 /* ERRAND_SHUTDOWN_GRACE_SECONDS */
	char *stream_prefix;	 /* ERRAND_STREAM_PREFIX */
	long stream_maxlen;	 /* ERRAND_STREAM_MAXLEN */

	/* Settings of the job model, read now, used by later modules. */
	char *cron_secret;			   /* ERRAND_CRON_SECRET */
	int hold_seconds;			   /* ERRAND_HOLD_SECONDS */
	int sweep_seconds;			   /* ERRAND_SWEEP_SECONDS */
	int run_expiry_seconds;			   /* ERRAND_RUN_EXPIRY_SECONDS */
	int run_delivery_deadline_seconds;	   /* ERRAND_RUN_DELIVERY_DEADLINE_SECONDS */
	int webhook_retry[CONFIG_MAX_RETRY_STEPS]; /* ERRAND_WEBHOOK_RETRY_SCHEDULE */
	int webhook_retry_n;
	int webhook_allow_private;   /* ERRAND_WEBHOOK_ALLOW_PRIVATE */
	int webhook_timeout_ms;	     /* ERRAND_WEBHOOK_TIMEOUT_MS */
	int dispatch_max_inflight;   /* ERRAND_DISPATCH_MAX_INFLIGHT */
	int dispatch_max_inflight_per_receiver; /* ERRAND_DISPATCH_MAX_INFLIGHT_PER_RECEIVER */
	int verify_lease_seconds;    /* ERRAND_VERIFY_LEASE_SECONDS */
	int platform_fee_bps;	     /* ERRAND_PLATFORM_FEE_BPS */
	size_t max_output_bytes;     /* ERRAND_MAX_OUTPUT_BYTES */
	size_t max_attachment_bytes; /* ERRAND_MAX_ATTACHMENT_BYTES */
	char *llm_url;		     /* ERRAND_LLM_URL, optional */
	char *llm_model;	     /* ERRAND_LLM_MODEL */
	char *llm_api_key;	     /* ERRAND_LLM_API_KEY, optional */
	int llm_timeout_ms;	     /* ERRAND_LLM_TIMEOUT_MS */
	char *secrets_key;	     /* ERRAND_SECRETS_KEY, optional (64 hex digits) */
} config;

/*
 * Reads the environment into `c` for process `kind`. On a missing or wrong
 * value returns -1 and writes into `err` a message that names the variable
 * ("ERRAND_HOLD_SECONDS: expected an integer from 1 to 86400, got 'x'");
 * the caller prints it and exits with status 2. `c` is zeroed first and
 * must be released with config_free() either way.
 */
int config_load(config *c, proc_kind kind, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Frees what config_load allocated. NULL-safe. */
void config_free(config *c);

/* The executable name of a process kind ("errand-gateway"). */
const char *config_process_name(proc_kind kind);

/*
 * Every variable as a JSON array of {name, kind, default, description,
 * processes, required, secret}, in reading order (for docs and tests).
 * `default` is null when there is none; a computed one is described
 * ("<hostname>-<pid>"). Returns a new reference, NULL on allocation failure.
 */
json_t *config_table_json(void);

/*
 * Logs at info the settings `c` holds that its process reads, one member
 * per variable under "config"; secrets show as "(set)" or null and
 * passwords in URLs as "***".
 */
void config_log_summary(const config *c);

#endif
