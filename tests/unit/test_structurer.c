/* Unit tests of structurer.c: the built-in rule, and the model endpoint with its fallbacks. */
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "http_client.h"
#include "structurer.h"
#include "testdb.h"

/* ===== The built-in rule ===== */

static job_estimate builtin(const char *prompt)
{
	job_estimate e;
	memset(&e, 0x5a, sizeof e);
	structurer_builtin(prompt, &e);
	return e;
}

/* `n` words of `word` separated by single spaces. Caller frees. */
static char *words(const char *word, int n)
{
	size_t wl = strlen(word);
	char *s = malloc((size_t)n * (wl + 1) + 1);
	CHECK(s != NULL);
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			s[used++] = ' ';
		memcpy(s + used, word, wl);
		used += wl;
	}
	s[used] = '\0';
	return s;
}

/* Nonzero when `s` is well-formed UTF-8. */
static int utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80	      ? 0
			: (*p & 0xe0) == 0xc0 ? 1
			: (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3
					      : -1;
		if (n < 0)
			return 0;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static void test_builtin_rule(void)
{
	job_estimate e = builtin("write a haiku about the sea. make it rhyme!");
	CHECK_STR(e.title, "Write A Haiku About The Sea");
	CHECK_STR(e.description, "write a haiku about the sea. make it rhyme!");
	CHECK_STR(e.requirements, "- write a haiku about the sea.\n- make it rhyme!");
	CHECK_INT(e.price_cents, 500);
	CHECK_INT(e.time_limit_seconds, 3600);

	/* Eight words at most, from the first sentence only. */
	e = builtin("one two three four five six seven eight nine ten");
	CHECK_STR(e.title, "One Two Three Four Five Six Seven Eight");
	CHECK_STR(e.requirements, "- one two three four five six seven eight nine ten");
	e = builtin("Do it. Then write more words here.");
	CHECK_STR(e.title, "Do It");
	CHECK_STR(e.requirements, "- Do it.\n- Then write more words here.");

	/* Trailing punctuation of the title goes; inner punctuation stays. */
	e = builtin("Hello, world!! How are you?");
	CHECK_STR(e.title, "Hello, World");
	CHECK_STR(e.requirements, "- Hello, world!!\n- How are you?");
	e = builtin("a b c d e f g h, i j");
	CHECK_STR(e.title, "A B C D E F G H");
	e = builtin("Summarise: the report; quickly?");
	CHECK_STR(e.title, "Summarise: The Report; Quickly");
	e = builtin("fix it;:,");
	CHECK_STR(e.title, "Fix It");
	/* Already capitalised words and digits are kept as they are. */
	e = builtin("translate 3 PDFs into French");
	CHECK_STR(e.title, "Translate 3 PDFs Into French");

	/* Whitespace collapsed everywhere. */
	e = builtin("  fix\tthe\n\n bug   now  ");
	CHECK_STR(e.description, "fix the bug now");
	CHECK_STR(e.title, "Fix The Bug Now");
	CHECK_STR(e.requirements, "- fix the bug now");
	e = builtin("First.\n\nSecond?\r\n  Third!\tFourth");
	CHECK_STR(e.description, "First. Second? Third! Fourth");
	CHECK_STR(e.requirements, "- First.\n- Second?\n- Third!\n- Fourth");
	CHECK_STR(e.title, "First");
}

static void test_builtin_empty(void)
{
	static const char *const empty[] = { "", " ", "\n\t  \r\n" };
	for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
		job_estimate e = builtin(empty[i]);
		CHECK_STR(e.title, "Untitled job");
		CHECK_STR(e.description, "");
		CHECK_STR(e.requirements, "");
		CHECK_INT(e.price_cents, 500);
		CHECK_INT(e.time_limit_seconds, 3600);
	}
	/* Only punctuation: no title words are left. */
	job_estimate e = builtin("...");
	CHECK_STR(e.title, "Untitled job");
	CHECK_STR(e.description, "...");
}

static void test_builtin_price_and_time(void)
{
	static const struct {
		const char *word;
		int n;
		long long price;
		int time;
	} cases[] = {
		{ "word", 1, 500, 3600 },    { "word", 20, 500, 3600 },
		{ "word", 21, 525, 3660 },   { "word", 22, 550, 3720 },
		{ "word", 100, 2500, 8400 }, { "w", 1399, 34975, 86340 },
		{ "w", 1400, 35000, 86400 }, { "w", 1401, 35025, 86400 },
		{ "a", 1999, 49975, 86400 }, { "a", 2000, 50000, 86400 },
		{ "a", 2001, 50000, 86400 }, { "a", 3000, 50000, 86400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *p = words(cases[i].word, cases[i].n);
		job_estimate e = builtin(p);
		if (e.price_cents != cases[i].price || e.time_limit_seconds != cases[i].time) {
			fprintf(stderr, "%d x '%s': price %lld time %d, expected %lld and %d\n",
				cases[i].n, cases[i].word, (long long)e.price_cents,
				e.time_limit_seconds, cases[i].price, cases[i].time);
			exit(1);
		}
		free(p);
	}
	/* Words are counted however much whitespace separates them. */
	job_estimate e = builtin(" a\t\tb \n c  d e f g h i j k l m n o p q r s t u ");
	CHECK_INT(e.price_cents, 525);
	CHECK_INT(e.time_limit_seconds, 3660);
}

/*
 * The price counts the prompt's words, not those of the 4000-byte
 * description: 3000 words are 2980 beyond 20, so 50000 (the cap).
 */
static void test_builtin_price_counts_every_word(void)
{
	char *p = words("word", 3000); /* 14999 bytes */
	job_estimate e = builtin(p);
	if (e.price_cents != 50000) {
		fprintf(stderr,
			"3000 words of 'word': price %lld, expected 50000 (500 + 25 x 2980, at most "
			"50000)\n",
			(long long)e.price_cents);
		exit(1);
	}
	CHECK_INT(e.time_limit_seconds, 86400);
	free(p);
}

static void test_builtin_limits(void)
{
	/* Long words: the title fits its 120 bytes, the texts their 4000. */
	char *p = words("abcdefghijklmnopqrstuvwxyzabcd", 300);
	job_estimate e = builtin(p);
	CHECK(strlen(e.title) <= STRUCTURER_TITLE_MAX);
	CHECK(strncmp(e.title, "Abcdefghijklmnopqrstuvwxyzabcd Abcdefghij", 41) == 0);
	CHECK(strlen(e.description) <= STRUCTURER_TEXT_MAX);
	CHECK(strlen(e.requirements) <= STRUCTURER_TEXT_MAX);
	CHECK(strncmp(e.description, p, strlen(e.description)) == 0);
	CHECK(strncmp(e.requirements, "- abcdefghij", 12) == 0);
	free(p);
}

/* Cutting to a byte limit never splits a UTF-8 character: the texts stay valid UTF-8. */
static void test_builtin_keeps_utf8_valid(void)
{
	/*
	 * "Приветствую" is 22 bytes: eight such words pass the title's 120 bytes,
	 * which end inside the sixth word's third letter.
	 */
	char *ru = words("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\xd1\x81\xd1\x82"
			 "\xd0\xb2\xd1\x83\xd1\x8e",
			 10);
	int bad = 0;
	job_estimate e = builtin(ru);
	CHECK(strlen(e.title) <= STRUCTURER_TITLE_MAX);
	if (!utf8_valid(e.title)) {
		fprintf(stderr, "the title of ten Cyrillic words is not valid UTF-8 (%zu bytes)\n",
			strlen(e.title));
		bad = 1;
	}
	free(ru);
	/* Words of six bytes ("xéé "): the 4000-byte cut falls inside an "é". */
	char *long_text = words("x\xc3\xa9\xc3\xa9", 1000);
	e = builtin(long_text);
	CHECK(strlen(e.description) <= STRUCTURER_TEXT_MAX);
	if (!utf8_valid(e.description)) {
		fprintf(stderr,
			"the description of a 6000-byte prompt with accents is not valid "
			"UTF-8 (%zu bytes)\n",
			strlen(e.description));
		bad = 1;
	}
	if (!utf8_valid(e.requirements)) {
		fprintf(stderr,
			"the requirements of a 6000-byte prompt with accents are not valid "
			"UTF-8 (%zu bytes)\n",
			strlen(e.requirements));
		bad = 1;
	}
	free(long_text);
	CHECK(!bad);
}

static void test_builtin_deterministic(void)
{
	static const char prompt[] = "Compare the three vendors' offers. List risks!\n"
				     "Recommend one, with reasons?  Keep it short.";
	job_estimate a = builtin(prompt), b;
	for (int i = 0; i < 5; i++) {
		memset(&b, i, sizeof b);
		structurer_builtin(prompt, &b);
		CHECK(memcmp(&a, &b, sizeof a) == 0);
	}
	CHECK_STR(a.title, "Compare The Three Vendors' Offers");
	CHECK_STR(a.requirements, "- Compare the three vendors' offers.\n- List risks!\n"
				  "- Recommend one, with reasons?\n- Keep it short.");
}

/* ===== The model: a fake chat-completions endpoint ===== */

#define MODEL_CONTENT                                                                     \
	"{\"title\":\"Translate the contract\",\"description\":\"Translate the attached " \
	"contract into French.\",\"requirements\":\"- French\\n- Keep the layout\","      \
	"\"estimated_price_cents\":1234,\"estimated_time_limit_seconds\":5400}"

/* A chat-completions answer whose message content is `content`. */
static void reply_content(int fd, int status, const char *content)
{
	json_t *body = json_pack("{s:s,s:[{s:i,s:{s:s,s:s},s:s}]}", "object", "chat.completion",
				 "choices", "index", 0, "message", "role", "assistant", "content",
				 content, "finish_reason", "stop");
	char *text = json_dumps(body, JSON_COMPACT);
	fake_reply(fd, status, "Content-Type: application/json\r\n", text, strlen(text));
	free(text);
	json_decref(body);
}

static void model_handler(int fd, const fake_request *req)
{
	const char *p = req->path;
	if (strcmp(p, "/ok") == 0) {
		reply_content(fd, 200, MODEL_CONTENT);
	} else if (strcmp(p, "/fenced") == 0) {
		reply_content(fd, 200, "Here it is:\n```json\n" MODEL_CONTENT "\n```\n");
	} else if (strcmp(p, "/garbage") == 0) {
		fake_reply(fd, 200, "Content-Type: application/json\r\n", "this is not json", 16);
	} else if (strcmp(p, "/content-garbage") == 0) {
		reply_content(fd, 200, "I cannot help with that.");
	} else if (strcmp(p, "/500") == 0) {
		reply_content(fd, 500, MODEL_CONTENT);
	} else if (strcmp(p, "/string-price") == 0) {
		reply_content(
			fd, 200,
			"{\"title\":\"T\",\"description\":\"D\",\"requirements\":\"- R\","
			"\"estimated_price_cents\":\"900\",\"estimated_time_limit_seconds\":60}");
	} else if (strcmp(p, "/zero-time") == 0) {
		reply_content(fd, 200,
			      "{\"title\":\"T\",\"description\":\"D\",\"requirements\":\"- R\","
			      "\"estimated_price_cents\":900,\"estimated_time_limit_seconds\":0}");
	} else if (strcmp(p, "/missing") == 0) {
		reply_content(fd, 200,
			      "{\"title\":\"T\",\"description\":\"D\","
			      "\"estimated_price_cents\":900,\"estimated_time_limit_seconds\":60}");
	} else if (strcmp(p, "/no-choices") == 0) {
		fake_reply(fd, 200, "Content-Type: application/json\r\n", "{\"choices\":[]}", 14);
	} else if (strcmp(p, "/slow") == 0) {
		sleep(4);
		reply_content(fd, 200, MODEL_CONTENT);
	} else {
		fake_reply(fd, 404, NULL, "", 0);
	}
}

static const char PROMPT[] = "please translate the contract. keep the layout!";

/* What the callback saw. */
typedef struct answer {
	int calls;
	int inside; /* called from inside structurer_structure() */
	int from_model;
	int64_t at_ms;
	job_estimate est;
} answer;

static int in_structure;

static void on_answer(void *arg, const job_estimate *est, int from_model)
{
	answer *a = arg;
	a->calls++;
	a->inside |= in_structure;
	a->from_model = from_model;
	a->at_ms = clock_mono_ms();
	a->est = *est;
}

static int answered(const void *arg)
{
	return ((const answer *)arg)->calls > 0;
}

static char cfg_url[256], cfg_model[] = "test-model", cfg_key[] = "sk-test-123";

/* A configuration with the model at `path` of the fake server on `port` (0: no model). */
static config model_config(int port, const char *path, int timeout_ms)
{
	config cfg;
	memset(&cfg, 0, sizeof cfg);
	if (port) {
		snprintf(cfg_url, sizeof cfg_url, "http://127.0.0.1:%d%s", port, path);
		cfg.llm_url = cfg_url;
	}
	cfg.llm_model = cfg_model;
	cfg.llm_api_key = cfg_key;
	cfg.llm_timeout_ms = timeout_ms;
	return cfg;
}

/* Structures PROMPT with `cfg`; runs the loop until the answer and a while after. */
static answer structure(struct event_base *base, http_client *hc, const config *cfg)
{
	answer a;
	memset(&a, 0, sizeof a);
	in_structure = 1;
	structurer_structure(hc, cfg, PROMPT, on_answer, &a);
	in_structure = 0;
	CHECK(tdb_loop_until(base, answered, &a, 10000));
	tdb_loop_for(base, 50);
	CHECK_INT(a.calls, 1);
	return a;
}

/* Checks that `a` holds exactly what the built-in rule makes of PROMPT. */
static void check_builtin(const answer *a)
{
	job_estimate want = builtin(PROMPT);
	CHECK_INT(a->from_model, 0);
	CHECK_STR(a->est.title, want.title);
	CHECK_STR(a->est.description, want.description);
	CHECK_STR(a->est.requirements, want.requirements);
	CHECK_INT(a->est.price_cents, want.price_cents);
	CHECK_INT(a->est.time_limit_seconds, want.time_limit_seconds);
	CHECK_STR(a->est.title, "Please Translate The Contract");
}

static void test_no_model_answers_at_once(void)
{
	struct event_base *base = event_base_new();
	http_client *hc = http_client_new(base);
	CHECK(hc != NULL);
	config cfg = model_config(0, NULL, 1000);
	answer a;
	memset(&a, 0, sizeof a);
	structurer_structure(hc, &cfg, PROMPT, on_answer, &a);
	/* Before the loop ran at all. */
	CHECK_INT(a.calls, 1);
	check_builtin(&a);
	tdb_loop_for(base, 50);
	CHECK_INT(a.calls, 1);
	CHECK_INT(http_client_inflight(hc), 0);
	http_client_free(hc);
	event_base_free(base);
}

static void test_model_answers(void)
{
	int port = fake_start(model_handler, 2);
	struct event_base *base = event_base_new();
	http_client *hc = http_client_new(base);
	CHECK(hc != NULL);
	static const char *const paths[] = { "/ok", "/fenced" };
	for (int i = 0; i < 2; i++) {
		config cfg = model_config(port, paths[i], 5000);
		answer a = structure(base, hc, &cfg);
		CHECK(!a.inside);
		CHECK_INT(a.from_model, 1);
		CHECK_STR(a.est.title, "Translate the contract");
		CHECK_STR(a.est.description, "Translate the attached contract into French.");
		CHECK_STR(a.est.requirements, "- French\n- Keep the layout");
		CHECK_INT(a.est.price_cents, 1234);
		CHECK_INT(a.est.time_limit_seconds, 5400);
	}
	/* What was asked: a POST with the key, the model and the prompt as JSON. */
	char *log = fake_log();
	CHECK(strstr(log, "POST /ok HTTP/1.1") != NULL);
	CHECK(strstr(log, "Authorization: Bearer sk-test-123") != NULL);
	CHECK(strstr(log, "Content-Type: application/json") != NULL);
	const char *body = strstr(log, "\n=== ");
	CHECK(body != NULL);
	body = strchr(body + 5, '\n') + 1;
	json_error_t jerr;
	json_t *req = json_loadb(body, strcspn(body, "\n"), 0, &jerr);
	CHECK(req != NULL);
	CHECK_STR(json_string_value(json_object_get(req, "model")), "test-model");
	json_t *msgs = json_object_get(req, "messages");
	CHECK_INT(json_array_size(msgs), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
	CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "role")), "user");
	CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "content")), PROMPT);
	json_decref(req);
	free(log);
	http_client_free(hc);
	event_base_free(base);
}

static void test_model_failures_fall_back(void)
{
	int port = fake_start(model_handler, 2);
	struct event_base *base = event_base_new();
	http_client *hc = http_client_new(base);
	CHECK(hc != NULL);
	static const char *const paths[] = { "/garbage",      "/content-garbage", "/500",
					     "/string-price", "/zero-time",	  "/missing",
					     "/no-choices",   "/nowhere" };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		config cfg = model_config(port, paths[i], 5000);
		answer a = structure(base, hc, &cfg);
		if (a.from_model) {
			fprintf(stderr, "%s: taken as the model's answer\n", paths[i]);
			exit(1);
		}
		CHECK(!a.inside);
		check_builtin(&a);
	}
	/* Every one was asked. */
	char *log = fake_log();
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		char line[64];
		snprintf(line, sizeof line, "POST %s HTTP/1.1", paths[i]);
		CHECK_INT(tdb_count(log, line), 1);
	}
	free(log);
	http_client_free(hc);
	event_base_free(base);
}

static void test_model_not_listening_falls_back(void)
{
	struct event_base *base = event_base_new();
	http_client *hc = http_client_new(base);
	CHECK(hc != NULL);
	config cfg = model_config(tdb_closed_port(), "/v1/chat/completions", 5000);
	int64_t start = clock_mono_ms();
	answer a = structure(base, hc, &cfg);
	CHECK(!a.inside);
	check_builtin(&a);
	CHECK(a.at_ms - start < 3000);
	http_client_free(hc);
	event_base_free(base);
}

static void test_slow_model_falls_back_in_time(void)
{
	int port = fake_start(model_handler, 1);
	struct event_base *base = event_base_new();
	http_client *hc = http_client_new(base);
	CHECK(hc != NULL);
	config cfg = model_config(port, "/slow", 300);
	int64_t start = clock_mono_ms();
	answer a = structure(base, hc, &cfg);
	CHECK(!a.inside);
	check_builtin(&a);
	int64_t took = a.at_ms - start;
	if (took < 250 || took > 1500) {
		fprintf(stderr, "the fallback came after %lld ms (timeout 300 ms)\n",
			(long long)took);
		exit(1);
	}
	http_client_free(hc);
	event_base_free(base);
}

TEST_MAIN(TEST(test_builtin_rule), TEST(test_builtin_empty), TEST(test_builtin_price_and_time),
	  TEST(test_builtin_price_counts_every_word), TEST(test_builtin_limits),
	  TEST(test_builtin_keeps_utf8_valid), TEST(test_builtin_deterministic),
	  TEST(test_no_model_answers_at_once), TEST(test_model_answers),
	  TEST(test_model_failures_fall_back), TEST(test_model_not_listening_falls_back),
	  TEST(test_slow_model_falls_back_in_time))
