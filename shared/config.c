/* Configuration: every ERRAND_* environment variable, read and checked once at start. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ===== The table of variables ===== */

typedef enum {
	VAR_STRING,   /* text; min/max bound its length */
	VAR_INT,      /* decimal int in min..max */
	VAR_LONG,     /* decimal long in min..max */
	VAR_SIZE,     /* decimal size_t in min..max (bytes) */
	VAR_BOOL,     /* 1/0/true/false/yes/no/on/off */
	VAR_URL,      /* an http:// or https:// URL */
	VAR_CONNINFO, /* a postgresql:// URL or a libpq key=value string */
	VAR_REDIS,    /* redis://[:password@]host[:port][/db] */
	VAR_ADDR,     /* host:port, port 0..65535 */
	VAR_SCHEDULE, /* 1..CONFIG_MAX_RETRY_STEPS comma-separated integers in min..max */
	VAR_LEVEL,    /* a log level */
	VAR_HEX64,    /* 64 hex digits */
} var_kind;

#define P_GATEWAY (1u << PROC_GATEWAY)
#define P_SCHEDULER (1u << PROC_SCHEDULER)
#define P_DISPATCHER (1u << PROC_DISPATCHER)
#define P_VERIFIER (1u << PROC_VERIFIER)
#define P_CTL (1u << PROC_CTL)
#define P_SERVERS (P_GATEWAY | P_SCHEDULER | P_DISPATCHER | P_VERIFIER)
#define P_ALL (P_SERVERS | P_CTL)

#define F_REQUIRED 1u /* a process that reads it fails without it */
#define F_SECRET 2u   /* the value is never printed */
#define F_PASSWORD 4u /* a URL that may hold a password: printed redacted */
#define F_NO_SLASH 8u /* trailing slashes are dropped */

#define NO_OFFSET ((size_t)-1)
#define AT(member) offsetof(config, member)

#define MAX_SCHEDULE_STEP 604800 /* one week */
#define SHOWN_MAX 64		 /* bytes of a bad value echoed in a message */
#define REDACTED "***"

typedef struct var_def {
	const char *name;
	var_kind kind;
	const char *def;     /* the default as it would be written; NULL: none */
	const char *def_doc; /* for documentation when the default is computed */
	long long min, max;  /* see var_kind */
	unsigned procs;	     /* the processes that read it */
	unsigned flags;
	size_t offset; /* where the value goes in `config` */
	const char *description;
} var_def;

/* Every variable, in the order they are read and documented. */
static const var_def vars[] = {
	{ "ERRAND_DATABASE_URL", VAR_CONNINFO, NULL, NULL, 0, 0, P_ALL, F_REQUIRED | F_PASSWORD,
	  AT(database_url), "PostgreSQL: a postgresql:// URL or a libpq key=value string." },
	{ "ERRAND_REDIS_URL", VAR_REDIS, NULL, NULL, 0, 0, P_SERVERS, F_REQUIRED | F_PASSWORD,
	  AT(redis_url), "Redis: redis://[:password@]host[:port][/db] (port 6379, db 0)." },
	{ "ERRAND_HTTP_ADDR", VAR_ADDR, "127.0.0.1:7800", NULL, 0, 65535, P_ALL, 0, NO_OFFSET,
	  "host:port the gateway listens on (port 0: any free port); the other processes "
	  "derive the default ERRAND_PUBLIC_URL from it." },
	{ "ERRAND_SCHEDULER_ADDR", VAR_ADDR, "127.0.0.1:7801", NULL, 0, 65535, P_SCHEDULER, 0,
	  NO_OFFSET, "host:port of the scheduler's admin HTTP server (health, metrics)." },
	{ "ERRAND_DISPATCHER_ADDR", VAR_ADDR, "127.0.0.1:7802", NULL, 0, 65535, P_DISPATCHER, 0,
	  NO_OFFSET, "host:port of the dispatcher's admin HTTP server (health, metrics)." },
	{ "ERRAND_VERIFIER_ADDR", VAR_ADDR, "127.0.0.1:7804", NULL, 0, 65535, P_VERIFIER, 0,
	  NO_OFFSET, "host:port of the verifier's admin HTTP server (health, metrics)." },
	{ "ERRAND_PUBLIC_URL", VAR_URL, NULL, "http://<ERRAND_HTTP_ADDR>", 0, 0, P_ALL, F_NO_SLASH,
	  AT(public_url), "How agents and clients reach the gateway (no trailing slash)." },
	{ "ERRAND_INSTANCE", VAR_STRING, NULL, "<hostname>-<pid>", 1, 128, P_ALL, 0, AT(instance),
	  "Name of this process instance (Redis consumer name)." },
	{ "ERRAND_LOG_LEVEL", VAR_LEVEL, "info", NULL, 0, 0, P_ALL, 0, AT(log_level),
	  "Lowest level logged: debug, info, warn or error." },
	{ "ERRAND_DB_POOL_SIZE", VAR_INT, "4", NULL, 1, 64, P_ALL, 0, AT(db_pool_size),
	  "PostgreSQL connections per process." },
	{ "ERRAND_DB_QUEUE_MAX", VAR_INT, "10000", NULL, 1, 10000000, P_ALL, 0, AT(db_queue_max),
	  "Queries that may wait for a connection before new ones are refused." },
	{ "ERRAND_DB_TIMEOUT_MS", VAR_INT, "5000", NULL, 1, 3600000, P_ALL, 0, AT(db_timeout_ms),
	  "How long a query may wait for a connection, in milliseconds." },
	{ "ERRAND_MAX_BODY_BYTES", VAR_SIZE, "1048576", NULL, 1024, 1073741824, P_SERVERS, 0,
	  AT(max_body_bytes), "Largest request body; a larger one is 413 body_too_large." },
	{ "ERRAND_MAX_HEADER_BYTES", VAR_SIZE, "16384", NULL, 1024, 1048576, P_SERVERS, 0,
	  AT(max_header_bytes), "Largest total size of a request's headers." },
	{ "ERRAND_MAX_JSON_DEPTH", VAR_INT, "32", NULL, 1, 512, P_SERVERS, 0, AT(max_json_depth),
	  "Deepest nesting of a JSON request body." },
	{ "ERRAND_HTTP_TIMEOUT_SECONDS", VAR_INT, "30", NULL, 1, 3600, P_ALL, 0, AT(http_timeout_s),
	  "Read and write timeout of HTTP connections, in seconds." },
	{ "ERRAND_SHUTDOWN_GRACE_SECONDS", VAR_INT, "10", NULL, 0, 3600, P_SERVERS, 0,
	  AT(shutdown_grace_s), "How long a stopping process waits for work in hand, in seconds." },
	{ "ERRAND_STREAM_PREFIX", VAR_STRING, "errand:", NULL, 1, 64, P_ALL, 0, AT(stream_prefix),
	  "Prefix of every Redis key and stream name." },
	{ "ERRAND_STREAM_MAXLEN", VAR_LONG, "100000", NULL, 1, 1000000000, P_ALL, 0,
	  AT(stream_maxlen), "Approximate length Redis streams are trimmed to." },
	{ "ERRAND_CRON_SECRET", VAR_STRING, NULL, NULL, 16, 1024, P_ALL, F_SECRET, AT(cron_secret),
	  "Bearer secret of GET /api/cron/enforce-deadlines (at least 16 characters)." },
	{ "ERRAND_HOLD_SECONDS", VAR_INT, "60", NULL, 1, 86400, P_ALL, 0, AT(hold_seconds),
	  "How long a pulled job stays held for an agent, and how long a job it rejected is "
	  "not offered to it again, in seconds." },
	{ "ERRAND_SWEEP_SECONDS", VAR_INT, "30", NULL, 1, 3600, P_ALL, 0, AT(sweep_seconds),
	  "Interval of the scheduler's expiry sweeps, in seconds." },
	{ "ERRAND_RUN_EXPIRY_SECONDS", VAR_INT, "900", NULL, 1, 604800, P_ALL, 0,
	  AT(run_expiry_seconds),
	  "A run expires this long after its webhook is acknowledged or its last partial reply, "
	  "in seconds." },
	{ "ERRAND_RUN_DELIVERY_DEADLINE_SECONDS", VAR_INT, "3600", NULL, 1, 2592000, P_ALL, 0,
	  AT(run_delivery_deadline_seconds),
	  "A pending run whose webhook is still undelivered after this long fails, in seconds." },
	{ "ERRAND_WEBHOOK_RETRY_SCHEDULE", VAR_SCHEDULE, "0,5,300,1800,7200,18000,36000,36000",
	  NULL, 0, MAX_SCHEDULE_STEP, P_ALL, 0, AT(webhook_retry),
	  "Delays before each webhook delivery attempt, comma-separated seconds." },
	{ "ERRAND_WEBHOOK_ALLOW_PRIVATE", VAR_BOOL, "false", NULL, 0, 0, P_ALL, 0,
	  AT(webhook_allow_private),
	  "Allow webhook URLs that resolve to private, loopback or link-local addresses." },
	{ "ERRAND_WEBHOOK_TIMEOUT_MS", VAR_INT, "15000", NULL, 100, 600000, P_DISPATCHER, 0,
	  AT(webhook_timeout_ms),
	  "How long one webhook delivery attempt may take before it counts as failed, in "
	  "milliseconds." },
	{ "ERRAND_DISPATCH_MAX_INFLIGHT", VAR_INT, "10000", NULL, 1, 100000, P_DISPATCHER, 0,
	  AT(dispatch_max_inflight),
	  "Webhook deliveries one dispatcher keeps in flight at most (connections per host "
	  "included)." },
	{ "ERRAND_DISPATCH_MAX_INFLIGHT_PER_RECEIVER", VAR_INT, "5000", NULL, 1, 100000,
	  P_DISPATCHER, 0, AT(dispatch_max_inflight_per_receiver),
	  "Of those, the deliveries one agent or observer may have in flight at once: a slow "
	  "receiver leaves the rest to the others." },
	{ "ERRAND_VERIFY_LEASE_SECONDS", VAR_INT, "300", NULL, 2, 86400, P_VERIFIER, 0,
	  AT(verify_lease_seconds),
	  "How long a verifier holds a submitted attempt; a verifier that died is replaced "
	  "after this long, in seconds." },
	{ "ERRAND_PLATFORM_FEE_BPS", VAR_INT, "0", NULL, 0, 10000, P_ALL, 0, AT(platform_fee_bps),
	  "Platform fee in basis points of a job's price." },
	{ "ERRAND_MAX_OUTPUT_BYTES", VAR_SIZE, "1048576", NULL, 1024, 1073741824, P_ALL, 0,
	  AT(max_output_bytes), "Largest output of a run, in bytes." },
	{ "ERRAND_MAX_ATTACHMENT_BYTES", VAR_SIZE, "10485760", NULL, 1024, 1073741824, P_ALL, 0,
	  AT(max_attachment_bytes), "Largest attachment, in bytes." },
	{ "ERRAND_LLM_URL", VAR_URL, NULL, NULL, 0, 0, P_GATEWAY | P_VERIFIER, 0, AT(llm_url),
	  "An OpenAI-compatible chat-completions endpoint (…/v1/chat/completions): the gateway "
	  "asks it to structure prompts, the verifier's judge asks it for verdicts. Unset: the "
	  "built-in structurer." },
	{ "ERRAND_LLM_MODEL", VAR_STRING, "gpt-4o-mini", NULL, 1, 200, P_GATEWAY | P_VERIFIER, 0,
	  AT(llm_model), "Model name sent to ERRAND_LLM_URL." },
	{ "ERRAND_LLM_API_KEY", VAR_STRING, NULL, NULL, 1, 4096, P_GATEWAY | P_VERIFIER, F_SECRET,
	  AT(llm_api_key), "Bearer token for ERRAND_LLM_URL." },
	{ "ERRAND_LLM_TIMEOUT_MS", VAR_INT, "10000", NULL, 100, 600000, P_GATEWAY | P_VERIFIER, 0,
	  AT(llm_timeout_ms),
	  "How long a call to ERRAND_LLM_URL may take before errand falls back, in milliseconds." },
	{ "ERRAND_SECRETS_KEY", VAR_HEX64, NULL, NULL, 0, 0, P_ALL, F_SECRET, AT(secrets_key),
	  "Key for encryption at rest (envVars, webhook secrets) and for deriving runs' reply "
	  "and MCP tokens: 64 hex digits (32 bytes). The dispatcher does not start without it; "
	  "without it the gateway refuses envVars and /v1/jobs." },
};

#define NVARS (sizeof vars / sizeof vars[0])

static const char *const process_names[] = {
	[PROC_GATEWAY] = "errand-gateway",
	[PROC_SCHEDULER] = "errand-scheduler",
	[PROC_DISPATCHER] = "errand-dispatcher",
	[PROC_VERIFIER] = "errand-verifier",
	[PROC_CTL] = "errandctl",
};

#define NPROCS (sizeof process_names / sizeof process_names[0])

/* The variable holding each process's own listen address; NULL: none. */
static const char *const listen_vars[] = {
	[PROC_GATEWAY] = "ERRAND_HTTP_ADDR",
	[PROC_SCHEDULER] = "ERRAND_SCHEDULER_ADDR",
	[PROC_DISPATCHER] = "ERRAND_DISPATCHER_ADDR",
	[PROC_VERIFIER] = "ERRAND_VERIFIER_ADDR",
	[PROC_CTL] = NULL,
};

#define GATEWAY_ADDR_VAR "ERRAND_HTTP_ADDR"

/* What config_load() keeps between variables. */
typedef struct load_state {
	char *gateway_host; /* ERRAND_HTTP_ADDR, for the default public URL */
	int gateway_port;
} load_state;

/* ===== Helpers ===== */

/* The kind of a variable as documented by config_table_json(). */
static const char *var_kind_name(var_kind kind)
{
	switch (kind) {
	case VAR_STRING:
	case VAR_HEX64:
		return "string";
	case VAR_INT:
	case VAR_LONG:
		return "int";
	case VAR_SIZE:
		return "size";
	case VAR_BOOL:
		return "bool";
	case VAR_URL:
	case VAR_CONNINFO:
	case VAR_REDIS:
		return "url";
	case VAR_ADDR:
		return "addr";
	case VAR_SCHEDULE:
		return "schedule";
	case VAR_LEVEL:
		return "level";
	}
	return "?";
}

static void *member_at(config *c, const var_def *v)
{
	return (char *)c + v->offset;
}

static const void *member_at_const(const config *c, const var_def *v)
{
	return (const char *)c + v->offset;
}

/*
 * When `s` starts with a "password=" parameter (libpq key=value: spaces
 * around "=", a value quoted with ' and \-escapes; URL query: up to "&"),
 * returns the length up to the end of its value and sets `*value_at` to
 * where the value starts. Returns 0 otherwise.
 */
static size_t password_param(const char *s, size_t *value_at)
{
	size_t i = 8;
	if (strncasecmp(s, "password", 8) != 0)
		return 0;
	while (s[i] == ' ')
		i++;
	if (s[i++] != '=')
		return 0;
	while (s[i] == ' ')
		i++;
	*value_at = i;
	if (s[i] == '\'') {
		for (i++; s[i] && s[i] != '\''; i++) {
			if (s[i] == '\\' && s[i + 1])
				i++;
		}
		return s[i] ? i + 1 : i;
	}
	while (s[i] && !isspace((unsigned char)s[i]) && s[i] != '&')
		i++;
	return i;
}

/* Appends the `n` bytes at `s` to `out` (`*o` used of `outlen`), leaving room for a NUL. */
static void append(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *o + 1 < outlen; i++)
		out[(*o)++] = s[i];
}

/*
 * Writes into `out` `value` with every password replaced by "***": the
 * password of a URL's user info ("scheme://user:pw@host") and the value of
 * every "password=" (URL query or libpq key=value string). Returns `out`.
 */
static char *redact(const char *value, char *out, size_t outlen)
{
	size_t o = 0, n = strlen(value);
	const char *scheme = strstr(value, "://");
	const char *at = strrchr(value, '@');
	size_t pw_start = SIZE_MAX, pw_end = 0;

	if (scheme && at && at > scheme) {
		const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
		if (colon) {
			pw_start = (size_t)(colon + 1 - value);
			pw_end = (size_t)(at - value);
		}
	}
	for (size_t i = 0; i < n;) {
		size_t value_at, end;
		if (i == pw_start) {
			append(out, outlen, &o, REDACTED, strlen(REDACTED));
			i = pw_end;
		} else if ((end = password_param(value + i, &value_at)) != 0) {
			append(out, outlen, &o, value + i, value_at);
			append(out, outlen, &o, REDACTED, strlen(REDACTED));
			i += end;
		} else {
			append(out, outlen, &o, value + i, 1);
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * How a bad value is shown in a message: quoted, at most SHOWN_MAX bytes,
 * control characters as '?', passwords redacted; a secret only by length.
 */
static char *show_value(const var_def *v, const char *value, char *out, size_t outlen)
{
	char redacted[512];
	char cut[SHOWN_MAX + 4];

	if (v->flags & F_SECRET) {
		snprintf(out, outlen, "%zu characters (not shown)", strlen(value));
		return out;
	}
	if (v->flags & F_PASSWORD)
		value = redact(value, redacted, sizeof redacted);
	size_t n = 0;
	for (; value[n] && n < SHOWN_MAX; n++)
		cut[n] = iscntrl((unsigned char)value[n]) ? '?' : value[n];
	cut[n] = '\0';
	if (value[n])
		strcat(cut, "...");
	snprintf(out, outlen, "'%s'", cut);
	return out;
}

/*
 * Writes "NAME: expected <what>, got <value>" into `err`. Returns -1 for
 * the caller to return.
 */
static int __attribute__((format(printf, 5, 6)))
bad_value(char *err, size_t errlen, const var_def *v, const char *value, const char *fmt, ...)
{
	char what[256], shown[SHOWN_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: expected %s, got %s", v->name, what,
		 show_value(v, value, shown, sizeof shown));
	return -1;
}

/* Nonzero when `s` is one or more decimal digits, nothing else. */
static int all_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

/*
 * Reads `s` as a decimal integer ("-" allowed, no spaces, no "+", no
 * trailing characters) in min..max. Returns 0 or -1.
 */
static int parse_integer(const char *s, long long min, long long max, long long *out)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	if (!all_digits(digits, strlen(digits)))
		return -1;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parses the port text of `n` bytes at `s` in min..max. Returns the port or -1. */
static int parse_port(const char *s, size_t n, int min)
{
	if (!all_digits(s, n) || n > 5)
		return -1;
	int port = 0;
	for (size_t i = 0; i < n; i++)
		port = port * 10 + (s[i] - '0');
	return port >= min && port <= 65535 ? port : -1;
}

/* Nonzero when the `n` bytes at `s` may be a host name or address. */
static int host_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= ' ' || ch >= 0x7f || strchr("/?#@[]\\'\"", ch))
			return 0;
	}
	return 1;
}

/*
 * Splits "host:port" or "[v6]:port" at `s`, with the port in min..65535.
 * `end` is where the address stops (the whole string when NULL); a
 * missing port is taken as `default_port` when that is not -1. Returns 0
 * with a new `*host`, or -1.
 */
static int split_host_port(const char *s, const char *end, int min_port, int default_port,
			   char **host, int *port)
{
	const char *h, *hend, *p;

	if (!end)
		end = s + strlen(s);
	if (*s == '[') {
		h = s + 1;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend || hend == h)
			return -1;
		for (const char *q = h; q < hend; q++) {
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return -1;
		}
		p = hend + 1;
	} else {
		h = s;
		hend = memchr(s, ':', (size_t)(end - s));
		if (!hend)
			hend = end;
		if (!host_ok(h, (size_t)(hend - h)))
			return -1;
		p = hend;
	}
	if (p == end) {
		if (default_port < 0)
			return -1;
		*port = default_port;
	} else {
		if (*p != ':')
			return -1;
		*port = parse_port(p + 1, (size_t)(end - p - 1), min_port);
		if (*port < 0)
			return -1;
	}
	*host = strndup(h, (size_t)(hend - h));
	return *host ? 0 : -1;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Percent-decodes `n` bytes at `s` into a new string; NULL when malformed. */
static char *percent_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		/* Two hex digits must follow; "%00" would cut the string short. */
		int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
		int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/*
 * Parses redis://[:password@]host[:port][/db] into `c`. Returns 0 or -1
 * (then `c`'s redis members may hold partial results for config_free()).
 */
static int parse_redis_url(config *c, const char *url)
{
	static const char scheme[] = "redis://";
	const char *rest, *at, *slash;

	if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
		return -1;
	rest = url + sizeof scheme - 1;
	at = strrchr(rest, '@');
	if (at) {
		if (rest[0] != ':')
			return -1; /* a user name is not supported */
		if (at > rest + 1) {
			c->redis_password = percent_decode(rest + 1, (size_t)(at - rest - 1));
			if (!c->redis_password)
				return -1;
		}
		rest = at + 1;
	}
	slash = strchr(rest, '/');
	if (split_host_port(rest, slash, 1, 6379, &c->redis_host, &c->redis_port) < 0)
		return -1;
	c->redis_db = 0;
	if (slash && slash[1]) {
		long long db;
		if (parse_integer(slash + 1, 0, 65535, &db) < 0 || slash[1] == '-')
			return -1;
		c->redis_db = (int)db;
	}
	return 0;
}

/* Nonzero when `s` is an http:// or https:// URL with a host and no spaces. */
static int http_url_ok(const char *s)
{
	const char *rest;
	if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return 0;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
			return 0;
	}
	size_t authority = strcspn(rest, "/?#");
	const char *at = memchr(rest, '@', authority);
	if (at) {
		authority -= (size_t)(at + 1 - rest);
		rest = at + 1;
	}
	char *host = NULL;
	int port;
	if (split_host_port(rest, rest + authority, 1, 0, &host, &port) < 0)
		return 0;
	free(host);
	return 1;
}

/* Nonzero when libpq accepts `s` as a postgresql:// URL or key=value string. */
static int conninfo_ok(const char *s)
{
	int is_url = strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
	if (!is_url && !strchr(s, '='))
		return 0;
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(s, &errmsg);
	if (errmsg)
		PQfreemem(errmsg); /* may quote the value: never shown */
	if (!opts)
		return 0;
	PQconninfoFree(opts);
	return 1;
}

/*
 * Reads a schedule of comma-separated integers in v->min..v->max into
 * `c`. Returns 0 or -1.
 */
static int parse_schedule(config *c, const var_def *v, const char *s)
{
	int n = 0;
	for (const char *p = s;; n++) {
		size_t len = strcspn(p, ",");
		if (n >= CONFIG_MAX_RETRY_STEPS || !all_digits(p, len) || len > 9)
			return -1;
		long long step = 0;
		for (size_t i = 0; i < len; i++)
			step = step * 10 + (p[i] - '0');
		if (step < v->min || step > v->max)
			return -1;
		c->webhook_retry[n] = (int)step;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	c->webhook_retry_n = n + 1;
	return 0;
}

/*
 * Checks `value` of a variable kept as a string (string, URL, conninfo,
 * Redis URL, hex key) and stores a copy in `c`. Returns 0, or -1 with a
 * message in `err`.
 */
static int load_string(config *c, const var_def *v, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);
	switch (v->kind) {
	case VAR_STRING:
		if ((long long)len < v->min || (long long)len > v->max) {
			const char *bound = (long long)len < v->min ? "at least" : "at most";
			long long limit = (long long)len < v->min ? v->min : v->max;
			return bad_value(err, errlen, v, value, "%s %lld characters", bound, limit);
		}
		break;
	case VAR_URL:
		if (!http_url_ok(value))
			return bad_value(err, errlen, v, value, "an http:// or https:// URL");
		break;
	case VAR_CONNINFO:
		if (!conninfo_ok(value))
			return bad_value(err, errlen, v, value,
					 "a postgresql:// URL or a libpq key=value string");
		break;
	case VAR_REDIS:
		if (parse_redis_url(c, value) < 0)
			return bad_value(err, errlen, v, value,
					 "redis://[:password@]host[:port][/db]");
		break;
	case VAR_HEX64:
		if (len != 64 || strspn(value, "0123456789abcdefABCDEF") != 64)
			return bad_value(err, errlen, v, value, "64 hex digits");
		break;
	default:
		break;
	}
	char **slot = member_at(c, v);
	free(*slot);
	*slot = strdup(value);
	if (!*slot) {
		snprintf(err, errlen, "%s: out of memory", v->name);
		return -1;
	}
	if (v->flags & F_NO_SLASH) {
		/* The URL has a host, so this stops before the "//". */
		size_t l = strlen(*slot);
		while (l > 0 && (*slot)[l - 1] == '/')
			(*slot)[--l] = '\0';
	}
	return 0;
}

/*
 * Stores `value` of variable `v` into `c` (or, for addresses, into the
 * listen address and `st`). Returns 0, or -1 with a message in `err`.
 */
static int load_var(config *c, const var_def *v, const char *value, load_state *st, char *err,
		    size_t errlen)
{
	long long n;

	switch (v->kind) {
	case VAR_INT:
	case VAR_LONG:
	case VAR_SIZE:
		if (parse_integer(value, v->min, v->max, &n) < 0)
			return bad_value(err, errlen, v, value, "an integer from %lld to %lld",
					 v->min, v->max);
		if (v->kind == VAR_INT)
			*(int *)member_at(c, v) = (int)n;
		else if (v->kind == VAR_LONG)
			*(long *)member_at(c, v) = (long)n;
		else
			*(size_t *)member_at(c, v) = (size_t)n;
		return 0;

	case VAR_BOOL: {
		static const char *const truths[] = { "1", "true", "yes", "on" };
		static const char *const lies[] = { "0", "false", "no", "off" };
		for (size_t i = 0; i < 4; i++) {
			if (strcasecmp(value, truths[i]) == 0 || strcasecmp(value, lies[i]) == 0) {
				*(int *)member_at(c, v) = strcasecmp(value, truths[i]) == 0;
				return 0;
			}
		}
		return bad_value(err, errlen, v, value,
				 "one of 1, 0, true, false, yes, no, on, off");
	}

	case VAR_LEVEL:
		if (log_level_parse(value, (log_level *)member_at(c, v)) < 0)
			return bad_value(err, errlen, v, value, "debug, info, warn or error");
		return 0;

	case VAR_SCHEDULE:
		if (parse_schedule(c, v, value) < 0)
			return bad_value(err, errlen, v, value,
					 "1 to %d comma-separated integers from %lld to %lld",
					 CONFIG_MAX_RETRY_STEPS, v->min, v->max);
		return 0;

	case VAR_ADDR: {
		char *host = NULL;
		int port;
		if (split_host_port(value, NULL, 0, -1, &host, &port) < 0)
			return bad_value(err, errlen, v, value,
					 "host:port with a port from 0 to 65535");
		if (strcmp(v->name, GATEWAY_ADDR_VAR) == 0) {
			free(st->gateway_host);
			st->gateway_host = strdup(host);
			st->gateway_port = port;
			if (!st->gateway_host) {
				free(host);
				snprintf(err, errlen, "%s: out of memory", v->name);
				return -1;
			}
		}
		const char *own = c->kind < NPROCS ? listen_vars[c->kind] : NULL;
		if (own && strcmp(v->name, own) == 0) {
			free(c->listen_host);
			c->listen_host = host;
			c->listen_port = port;
		} else {
			free(host);
		}
		return 0;
	}

	case VAR_STRING:
	case VAR_URL:
	case VAR_CONNINFO:
	case VAR_REDIS:
	case VAR_HEX64:
		break;
	}
	return load_string(c, v, value, err, errlen);
}

/* Sets the members whose defaults are computed: public URL and instance. */
static int load_computed(config *c, const load_state *st, char *err, size_t errlen)
{
	if (!c->public_url && st->gateway_host) {
		const char *host = st->gateway_host;
		int v6 = strchr(host, ':') != NULL;
		if (strcmp(host, "0.0.0.0") == 0)
			host = "127.0.0.1";
		else if (strcmp(host, "::") == 0)
			host = "::1";
		size_t len = strlen(host) + 32;
		c->public_url = malloc(len);
		if (!c->public_url)
			goto nomem;
		snprintf(c->public_url, len, v6 ? "http://[%s]:%d" : "http://%s:%d", host,
			 st->gateway_port);
	}
	if (!c->instance) {
		char host[256];
		if (gethostname(host, sizeof host) < 0 || !host[0])
			snprintf(host, sizeof host, "errand");
		host[sizeof host - 1] = '\0';
		size_t len = strlen(host) + 24;
		c->instance = malloc(len);
		if (!c->instance)
			goto nomem;
		snprintf(c->instance, len, "%s-%ld", host, (long)getpid());
	}
	return 0;
nomem:
	snprintf(err, errlen, "configuration: out of memory");
	return -1;
}

/* The value of `v` in `c` as JSON, for the start-up summary (secrets redacted). */
static json_t *value_json(const config *c, const var_def *v)
{
	const void *p = member_at_const(c, v);
	switch (v->kind) {
	case VAR_INT:
	case VAR_BOOL:
		return v->kind == VAR_BOOL ? json_boolean(*(const int *)p)
					   : json_integer(*(const int *)p);
	case VAR_LONG:
		return json_integer(*(const long *)p);
	case VAR_SIZE:
		return json_integer((json_int_t) * (const size_t *)p);
	case VAR_LEVEL: {
		static const char *const names[] = { "debug", "info", "warn", "error" };
		log_level l = *(const log_level *)p;
		return json_string(l <= LOG_LEVEL_ERROR ? names[l] : "?");
	}
	case VAR_SCHEDULE: {
		json_t *a = json_array();
		for (int i = 0; a && i < c->webhook_retry_n; i++)
			json_array_append_new(a, json_integer(c->webhook_retry[i]));
		return a;
	}
	case VAR_ADDR:
		return NULL;
	default:
		break;
	}
	const char *s = *(char *const *)p;
	if (!s)
		return json_null();
	if (v->flags & F_SECRET)
		return json_string("(set)");
	if (v->flags & F_PASSWORD) {
		char buf[1024];
		return json_string(redact(s, buf, sizeof buf));
	}
	return json_string(s);
}

/* ===== Public functions ===== */

const char *config_process_name(proc_kind kind)
{
	return (unsigned)kind < NPROCS ? process_names[kind] : "errand";
}

int config_load(config *c, proc_kind kind, char *err, size_t errlen)
{
	load_state st = { NULL, 0 };
	int rc = -1;

	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->process = config_process_name(kind);
	if ((unsigned)kind >= NPROCS) {
		snprintf(err, errlen, "configuration: unknown process kind %d", (int)kind);
		goto done;
	}

	for (size_t i = 0; i < NVARS; i++) {
		const var_def *v = &vars[i];
		int reads = (v->procs & (1u << kind)) != 0;
		const char *value = reads ? getenv(v->name) : NULL;
		if (value && !*value)
			value = NULL; /* empty counts as unset */
		if (!value) {
			if (reads && (v->flags & F_REQUIRED)) {
				snprintf(err, errlen, "%s: required, not set (expected %s)",
					 v->name, v->description);
				goto done;
			}
			value = v->def;
		}
		if (value && load_var(c, v, value, &st, err, errlen) < 0)
			goto done;
	}
	if (load_computed(c, &st, err, errlen) < 0)
		goto done;
	rc = 0;
done:
	free(st.gateway_host);
	return rc;
}

void config_free(config *c)
{
	if (!c)
		return;
	char **owned[] = {
		&c->database_url, &c->redis_url,  &c->redis_host, &c->redis_password,
		&c->listen_host,  &c->public_url, &c->instance,	  &c->stream_prefix,
		&c->cron_secret,  &c->llm_url,	  &c->llm_model,  &c->llm_api_key,
		&c->secrets_key,
	};
	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
		if (*owned[i]) {
			explicit_bzero(*owned[i], strlen(*owned[i]));
			free(*owned[i]);
		}
	}
	memset(c, 0, sizeof *c);
}

json_t *config_table_json(void)
{
	json_t *table = json_array();
	if (!table)
		return NULL;
	for (size_t i = 0; i < NVARS; i++) {
		const var_def *v = &vars[i];
		json_t *procs = json_array();
		for (size_t k = 0; procs && k < NPROCS; k++) {
			if (v->procs & (1u << k))
				json_array_append_new(procs, json_string(process_names[k]));
		}
		const char *def = v->def ? v->def : v->def_doc;
		json_t *row = json_pack(
			"{s:s, s:s, s:o, s:s, s:o, s:b, s:b}", "name", v->name, "kind",
			var_kind_name(v->kind), "default", def ? json_string(def) : json_null(),
			"description", v->description, "processes", procs, "required",
			(v->flags & F_REQUIRED) != 0, "secret", (v->flags & F_SECRET) != 0);
		if (!row || json_array_append_new(table, row) < 0) {
			json_decref(table);
			return NULL;
		}
	}
	return table;
}

void config_log_summary(const config *c)
{
	json_t *settings = json_object();
	if (!settings)
		return;
	for (size_t i = 0; i < NVARS; i++) {
		const var_def *v = &vars[i];
		if (!(v->procs & (1u << c->kind)))
			continue;
		if (v->kind == VAR_ADDR) {
			const char *own = (unsigned)c->kind < NPROCS ? listen_vars[c->kind] : NULL;
			if (own && strcmp(v->name, own) == 0 && c->listen_host) {
				char addr[300];
				snprintf(addr, sizeof addr,
					 strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d",
					 c->listen_host, c->listen_port);
				json_object_set_new(settings, v->name, json_string(addr));
			}
			continue;
		}
		json_object_set_new(settings, v->name, value_json(c, v));
	}
	json_t *fields = json_pack("{s:o}", "config", settings);
	log_write(LOG_LEVEL_INFO, NULL, fields, "configuration of %s", c->process);
	json_decref(fields);
}
