/* The built-in prompt structurer: a documented rule, the same answer for the same prompt. */
#include "structurer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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
	if (n > cap - 1 - *used)
		n = cap - 1 - *used;
	memcpy(buf + *used, s, n);
	*used += n;
	buf[*used] = '\0';
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

	int words = 0;
	for (const char *p = d; *p; p++)
		if (*p != ' ' && (p == d || p[-1] == ' '))
			words++;
	int extra = words > FREE_WORDS ? words - FREE_WORDS : 0;
	out->price_cents = BASE_PRICE + (int64_t)PRICE_PER_WORD * extra;
	if (out->price_cents > MAX_PRICE)
		out->price_cents = MAX_PRICE;
	long t = BASE_TIME + (long)TIME_PER_WORD * extra;
	out->time_limit_seconds = t > MAX_TIME ? MAX_TIME : (int)t;
}
