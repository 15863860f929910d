/* The built-in prompt structurer: a documented rule, the same answer for the same prompt. */
#include "structurer.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"

#define TITLE_WORDS 8
#define BASE_PRICE 500
#define PRICE_PER_WORD 25
#define MAX_PRICE 50000
#define BASE_TIME 3600
#define TIME_PER_WORD 60
#define MAX_TIME 86400
#define FREE_WORDS 20

/* Appends `n` bytes of `s` to `buf` (size `cap`) at `*used`, truncating safely. */
static void append(char *buf, size_t cap, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= cap)
		return;
	if (n > cap - 1 - *used) {
		n = cap - 1 - *used;
		/* never cut a UTF-8 sequence: stop before its first byte */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(buf + *used, s, n);
	*used += n;
	buf[*used] = '\0';
}

/* Drops an incomplete UTF-8 sequence at the end of `buf` (a bounded copy may cut one). */
static void utf8_trim_tail(char *buf)
{
	size_t n = strlen(buf);
	size_t start = n;
	while (start > 0 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return;
	unsigned char lead = (unsigned char)buf[start - 1];
	size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (n - (start - 1) < want)
		buf[start - 1] = '\0';
}

/* Copies `prompt` into `out` (size `cap`) with runs of whitespace as one space, trimmed. */
static void collapse(const char *prompt, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (const char *p = prompt; *p; p++) {
		if (isspace((unsigned char)*p)) {
			if (used > 0 && out[used - 1] != ' ')
				append(out, cap, &used, " ", 1);
		} else {
			append(out, cap, &used, p, 1);
		}
	}
	while (used > 0 && out[used - 1] == ' ')
		out[--used] = '\0';
	utf8_trim_tail(out);
}

/* Length of the sentence at `s`: up to and with its . ! or ? before a space, or the end. */
static size_t sentence_len(const char *s)
{
	const char *p = s;
	while (*p && !(strchr(".!?", *p) && (p[1] == ' ' || p[1] == '\0')))
		p++;
	return (size_t)(p - s) + (*p ? 1 : 0);
}

void structurer_builtin(const char *prompt, job_estimate *out)
{
	memset(out, 0, sizeof *out);
	collapse(prompt, out->description, sizeof out->description);
	const char *d = out->description;

	/* requirements: one line per sentence */
	size_t rlen = 0;
	for (const char *s = d; *s;) {
		size_t n = sentence_len(s);
		if (rlen)
			append(out->requirements, sizeof out->requirements, &rlen, "\n", 1);
		append(out->requirements, sizeof out->requirements, &rlen, "- ", 2);
		append(out->requirements, sizeof out->requirements, &rlen, s, n);
		s += n;
		while (*s == ' ')
			s++;
	}

	/* title: the first sentence's first words, capitalised */
	size_t first = sentence_len(d), tlen = 0;
	int title_words = 0;
	for (size_t i = 0; i < first && title_words < TITLE_WORDS; i++) {
		if (d[i] == ' ')
			continue;
		if (title_words++)
			append(out->title, sizeof out->title, &tlen, " ", 1);
		char up = (char)toupper((unsigned char)d[i]);
		append(out->title, sizeof out->title, &tlen, &up, 1);
		size_t j = i + 1;
		while (j < first && d[j] != ' ')
			j++;
		append(out->title, sizeof out->title, &tlen, d + i + 1, j - i - 1);
		i = j;
	}
	while (tlen > 0 && strchr(".,;:!?", out->title[tlen - 1]))
		out->title[--tlen] = '\0';
	if (tlen == 0)
		snprintf(out->title, sizeof out->title, "Untitled job");

	/* words of the whole prompt, not of the (bounded) description */
	int words = 0;
	for (const char *p = prompt; *p; p++)
		if (!isspace((unsigned char)*p) && (p == prompt || isspace((unsigned char)p[-1])))
			words++;
	int extra = words > FREE_WORDS ? words - FREE_WORDS : 0;
	out->price_cents = BASE_PRICE + (int64_t)PRICE_PER_WORD * extra;
	if (out->price_cents > MAX_PRICE)
		out->price_cents = MAX_PRICE;
	long t = BASE_TIME + (long)TIME_PER_WORD * extra;
	out->time_limit_seconds = t > MAX_TIME ? MAX_TIME : (int)t;
}

/* ===== The model ===== */

#define MODEL_PRICE_MAX 100000000
#define MODEL_TIME_MAX (30 * 24 * 3600)

static const char SYSTEM_PROMPT[] =
	"You structure a task description into a job for a marketplace of AI agents. Answer "
	"with one JSON object and nothing else, with exactly these members: \"title\" (at most "
	"120 characters), \"description\" (a clear statement of the task), \"requirements\" (what "
	"the delivered work must satisfy, one requirement per line starting with \"- \"), "
	"\"estimated_price_cents\" (an integer: a fair price in US cents) and "
	"\"estimated_time_limit_seconds\" (an integer: the time an agent needs).";

typedef struct model_call {
	structurer_cb cb;
	void *arg;
	char *prompt;
} model_call;

/* Copies a string member of at most `max` bytes into `out`. Returns 0 or -1. */
static int take_string(const json_t *obj, const char *key, char *out, size_t max)
{
	const char *v = json_string_value(json_object_get(obj, key));
	if (!v || strlen(v) == 0 || strlen(v) > max)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Reads the model's fields from its answer. Returns 0, or -1 when anything is missing or out of range. */
static int parse_model_answer(const json_t *obj, job_estimate *out)
{
	int ok = json_is_object(obj) &&
		 take_string(obj, "title", out->title, STRUCTURER_TITLE_MAX) == 0 &&
		 take_string(obj, "description", out->description, STRUCTURER_TEXT_MAX) == 0 &&
		 take_string(obj, "requirements", out->requirements, STRUCTURER_TEXT_MAX) == 0;
	json_t *price = json_object_get(obj, "estimated_price_cents");
	json_t *time = json_object_get(obj, "estimated_time_limit_seconds");
	ok = ok && json_is_integer(price) && json_integer_value(price) >= 0 &&
	     json_integer_value(price) <= MODEL_PRICE_MAX && json_is_integer(time) &&
	     json_integer_value(time) >= 1 && json_integer_value(time) <= MODEL_TIME_MAX;
	if (ok) {
		out->price_cents = json_integer_value(price);
		out->time_limit_seconds = (int)json_integer_value(time);
	}
	return ok ? 0 : -1;
}

static void on_model(void *arg, const json_t *answer, const char *error)
{
	model_call *m = arg;
	job_estimate est;
	memset(&est, 0, sizeof est);
	int from_model = 0;
	if (!answer) {
		log_warn("structurer: the model did not answer (%s); using the built-in rule",
			 error);
	} else if (parse_model_answer(answer, &est) == 0) {
		from_model = 1;
	} else {
		log_warn("structurer: the model's answer is not a valid job; using the built-in "
			 "rule");
	}
	if (!from_model)
		structurer_builtin(m->prompt, &est);
	m->cb(m->arg, &est, from_model);
	free(m->prompt);
	free(m);
}

void structurer_structure(http_client *hc, const config *cfg, const char *prompt, structurer_cb cb,
			  void *arg)
{
	job_estimate est;
	model_call *m = cfg->llm_url && hc ? calloc(1, sizeof *m) : NULL;
	if (m) {
		m->cb = cb;
		m->arg = arg;
		m->prompt = strdup(prompt);
	}
	if (!m || !m->prompt || model_ask(hc, cfg, SYSTEM_PROMPT, prompt, 0, on_model, m) != 0) {
		if (m)
			free(m->prompt);
		free(m);
		structurer_builtin(prompt, &est);
		cb(arg, &est, 0);
	}
}
