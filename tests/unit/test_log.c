/* Unit tests of log.c: the JSON lines written to stderr and level filtering. */
#include <errno.h>

#include "clock.h"
#include "log.h"
#include "testlib.h"

static int saved_stderr = -1;
static int pipe_read = -1;

/* Sends stderr into a pipe until capture_end(). */
static void capture_start(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	saved_stderr = dup(STDERR_FILENO);
	CHECK(saved_stderr >= 0);
	CHECK(dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
	close(fds[1]);
	pipe_read = fds[0];
}

/* Restores stderr and returns what was written meanwhile (caller frees). */
static char *capture_end(void)
{
	CHECK(dup2(saved_stderr, STDERR_FILENO) == STDERR_FILENO);
	close(saved_stderr);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	CHECK(buf);
	for (;;) {
		ssize_t n = read(pipe_read, buf + len, cap - len);
		CHECK(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		CHECK(len < cap);
	}
	close(pipe_read);
	buf[len] = '\0';
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Parses one captured line (which must end in its only newline). */
static json_t *parse_line(const char *out)
{
	size_t len = strlen(out);
	CHECK(len > 0 && out[len - 1] == '\n');
	CHECK_INT(count_lines(out), 1);
	json_error_t jerr;
	json_t *v = json_loadb(out, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		fprintf(stderr, "not JSON (%s): %s\n", jerr.text, out);
		exit(1);
	}
	CHECK(json_is_object(v));
	return v;
}

static void test_line_fields(void)
{
	log_init("errand-test", LOG_LEVEL_DEBUG);
	json_t *fields = json_pack("{s:i, s:s, s:s}", "status", 404, "route", "/v1/me", "msg",
				   "must not replace the message");
	int64_t before = clock_now_ms();
	capture_start();
	log_write(LOG_LEVEL_WARN, "req_123", fields, "hello %s %d", "world", 42);
	char *out = capture_end();
	int64_t after = clock_now_ms();

	/* The fixed members come first, in this order. */
	CHECK(strncmp(out, "{\"time\":\"", 9) == 0);
	CHECK(strstr(out, "\",\"level\":\"warn\",\"process\":\"errand-test\",\"request_id\":"
			  "\"req_123\",\"msg\":\"hello world 42\",\"status\":404,") != NULL);

	json_t *line = parse_line(out);
	CHECK_INT(json_object_size(line), 7);
	CHECK_STR(json_string_value(json_object_get(line, "level")), "warn");
	CHECK_STR(json_string_value(json_object_get(line, "process")), "errand-test");
	CHECK_STR(json_string_value(json_object_get(line, "request_id")), "req_123");
	CHECK_STR(json_string_value(json_object_get(line, "msg")), "hello world 42");
	CHECK_INT(json_integer_value(json_object_get(line, "status")), 404);
	CHECK_STR(json_string_value(json_object_get(line, "route")), "/v1/me");

	const char *when = json_string_value(json_object_get(line, "time"));
	int64_t ms = 0;
	CHECK(when && when[strlen(when) - 1] == 'Z');
	CHECK_INT(clock_parse_rfc3339(when, &ms), 0);
	CHECK(ms >= before && ms <= after);

	/* `fields` is borrowed: still ours, unchanged. */
	CHECK_INT(json_object_size(fields), 3);
	CHECK_INT(fields->refcount, 1);
	json_decref(fields);
	json_decref(line);
	free(out);
}

static void test_no_request_id(void)
{
	log_init("p", LOG_LEVEL_INFO);
	capture_start();
	log_info("plain");
	char *out = capture_end();
	json_t *line = parse_line(out);
	CHECK(json_object_get(line, "request_id") == NULL);
	CHECK_INT(json_object_size(line), 4);
	CHECK_STR(json_string_value(json_object_get(line, "level")), "info");
	CHECK_STR(json_string_value(json_object_get(line, "msg")), "plain");
	json_decref(line);
	free(out);
}

static void test_levels(void)
{
	log_init("p", LOG_LEVEL_WARN);
	CHECK(!log_enabled(LOG_LEVEL_DEBUG));
	CHECK(!log_enabled(LOG_LEVEL_INFO));
	CHECK(log_enabled(LOG_LEVEL_WARN));
	CHECK(log_enabled(LOG_LEVEL_ERROR));

	capture_start();
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_error("e");
	char *out = capture_end();
	CHECK_INT(count_lines(out), 2);
	CHECK(strstr(out, "\"level\":\"warn\",") && strstr(out, "\"msg\":\"w\""));
	CHECK(strstr(out, "\"level\":\"error\",") && strstr(out, "\"msg\":\"e\""));
	CHECK(!strstr(out, "\"msg\":\"i\"") && !strstr(out, "\"msg\":\"d\""));
	free(out);

	log_init("p", LOG_LEVEL_DEBUG);
	capture_start();
	log_debug("d");
	out = capture_end();
	CHECK(strstr(out, "\"level\":\"debug\"") != NULL);
	free(out);
}

static void test_level_parse(void)
{
	log_level l = LOG_LEVEL_ERROR;
	CHECK_INT(log_level_parse("debug", &l), 0);
	CHECK_INT(l, LOG_LEVEL_DEBUG);
	CHECK_INT(log_level_parse("info", &l), 0);
	CHECK_INT(l, LOG_LEVEL_INFO);
	CHECK_INT(log_level_parse("warn", &l), 0);
	CHECK_INT(l, LOG_LEVEL_WARN);
	CHECK_INT(log_level_parse("error", &l), 0);
	CHECK_INT(l, LOG_LEVEL_ERROR);
	CHECK_INT(log_level_parse("warning", &l), -1);
	CHECK_INT(log_level_parse("INFO", &l), -1);
	CHECK_INT(log_level_parse("", &l), -1);
	CHECK_INT(log_level_parse(NULL, &l), -1);
	CHECK_INT(l, LOG_LEVEL_ERROR);
}

/* A message longer than any stack buffer still makes one whole line. */
static void test_long_message(void)
{
	log_init("p", LOG_LEVEL_INFO);
	size_t n = 20000;
	char *big = malloc(n + 1);
	CHECK(big);
	memset(big, 'x', n);
	big[n] = '\0';
	capture_start();
	log_write(LOG_LEVEL_INFO, NULL, NULL, "%s\"\n", big);
	char *out = capture_end();
	json_t *line = parse_line(out); /* the newline in the message is escaped */
	const char *msg = json_string_value(json_object_get(line, "msg"));
	CHECK(msg && strlen(msg) == n + 2);
	CHECK(msg[n] == '"' && msg[n + 1] == '\n');
	json_decref(line);
	free(out);
	free(big);
}

/* Bytes that are not UTF-8 become '?', so the line stays JSON. */
static void test_invalid_utf8(void)
{
	log_init("p", LOG_LEVEL_INFO);
	capture_start();
	log_write(LOG_LEVEL_ERROR, "id\xff", NULL, "bad \xc3\x28 ok \xc3\xa9 \xed\xa0\x80!");
	char *out = capture_end();
	json_t *line = parse_line(out);
	CHECK_STR(json_string_value(json_object_get(line, "msg")), "bad ?( ok \xc3\xa9 ??"
								   "?!");
	CHECK_STR(json_string_value(json_object_get(line, "request_id")), "id?");
	json_decref(line);
	free(out);
}

static void test_keeps_errno(void)
{
	log_init("p", LOG_LEVEL_INFO);
	capture_start();
	errno = ENOENT;
	log_info("x");
	CHECK_INT(errno, ENOENT);
	free(capture_end());
}

TEST_MAIN(TEST(test_line_fields), TEST(test_no_request_id), TEST(test_levels),
	  TEST(test_level_parse), TEST(test_long_message), TEST(test_invalid_utf8),
	  TEST(test_keeps_errno))
