/* Structured logging: one JSON object per line on stderr. */
#ifndef ERRAND_LOG_H
#define ERRAND_LOG_H

#include <jansson.h>

typedef enum {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
} log_level;

/*
 * Sets the process name written in every line and the lowest level that is
 * written. `process` must outlive every later log call (a string literal).
 */
void log_init(const char *process, log_level min_level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *s, log_level *out) __attribute__((warn_unused_result));

/* Nonzero when a line at `level` would be written. */
int log_enabled(log_level level);

/*
 * Writes one line: {"time","level","process","request_id"?,"msg", ...fields}.
 * `request_id` may be NULL. `fields` is a JSON object whose members are
 * added to the line (borrowed; may be NULL). Lines are written with one
 * write(2) so concurrent processes sharing stderr do not interleave them.
 */
void log_write(log_level level, const char *request_id, const json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)

#endif
