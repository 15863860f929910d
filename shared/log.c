/* Structured logging: one JSON object per line on stderr. */
#include "log.h"

#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

/* A line that fits here is written without a heap allocation. */
#define LOG_STACK_LINE 2048
#define LOG_STACK_MSG 1024

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

static const char *log_process = "errand";
static log_level log_min = LOG_LEVEL_INFO;

/* Writes all of `buf` to stderr in one write(2), retrying after a signal. */
static void write_line(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

void log_init(const char *process, log_level min_level)
{
	if (process)
		log_process = process;
	log_min = min_level;
}

int log_level_parse(const char *s, log_level *out)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_enabled(log_level level)
{
	return level >= log_min;
}

void log_write(log_level level, const char *request_id, const json_t *fields, const char *fmt, ...)
{
	char msg_stack[LOG_STACK_MSG];
	char line_stack[LOG_STACK_LINE];
	char *msg = msg_stack, *line = line_stack;
	json_t *obj = NULL;
	int saved_errno = errno;

	if (!log_enabled(level))
		return;
	if (level < LOG_LEVEL_DEBUG || level > LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;

	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg_stack, sizeof msg_stack, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto done;
	if ((size_t)n >= sizeof msg_stack) {
		msg = malloc((size_t)n + 1);
		if (!msg)
			goto done;
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}

	char when[CLOCK_RFC3339_LEN];
	clock_format_rfc3339(clock_now_ms(), when);
	obj = json_object();
	if (!obj)
		goto done;
	json_object_set_new(obj, "time", json_string(when));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "process", json_string_lossy(log_process, strlen(log_process)));
	if (request_id)
		json_object_set_new(obj, "request_id",
				    json_string_lossy(request_id, strlen(request_id)));
	json_object_set_new(obj, "msg", json_string_lossy(msg, (size_t)n));
	/*
	 * jansson takes no const objects; update_missing only takes references
	 * to the members (their refcounts change, their values do not), and it
	 * keeps the fixed members above when `fields` has the same keys.
	 */
	if (fields && json_is_object(fields))
		json_object_update_missing(obj, (json_t *)fields);

	size_t need = json_dumpb(obj, line_stack, sizeof line_stack - 1, JSON_COMPACT);
	if (need == 0)
		goto done;
	if (need > sizeof line_stack - 1) {
		line = malloc(need + 1);
		if (!line || json_dumpb(obj, line, need, JSON_COMPACT) != need)
			goto done;
	}
	line[need] = '\n';
	write_line(line, need + 1);

done:
	if (line != line_stack)
		free(line);
	if (msg != msg_stack)
		free(msg);
	json_decref(obj);
	errno = saved_errno;
}
