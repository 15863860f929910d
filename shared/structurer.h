/* Structuring a prompt into a job: title, description, requirements and estimates. */
#ifndef ERRAND_STRUCTURER_H
#define ERRAND_STRUCTURER_H

#include <stdint.h>

#include "config.h"
#include "http_client.h"

#define STRUCTURER_TITLE_MAX 120
#define STRUCTURER_TEXT_MAX 4000

typedef struct job_estimate {
	char title[STRUCTURER_TITLE_MAX + 1];
	char description[STRUCTURER_TEXT_MAX + 1];
	char requirements[STRUCTURER_TEXT_MAX + 1];
	int64_t price_cents;
	int time_limit_seconds;
} job_estimate;

/*
 * The built-in structurer, deterministic (docs/api.md states the rule):
 * - title: the first sentence's first eight words, each capitalised, without
 *   trailing punctuation;
 * - description: the prompt with its whitespace collapsed (at most 4000 bytes);
 * - requirements: one "- " line per sentence;
 * - price: 500 cents plus 25 per word beyond 20, at most 50000;
 * - time limit: 3600 s plus 60 per word beyond 20, at most 86400.
 */
void structurer_builtin(const char *prompt, job_estimate *out);

/* The estimate, and whether the model made it (1) or the built-in rule (0). */
typedef void (*structurer_cb)(void *arg, const job_estimate *est, int from_model);

/*
 * Structures `prompt`: when ERRAND_LLM_URL is set, asks that
 * OpenAI-compatible chat-completions endpoint for the same fields as JSON
 * (within ERRAND_LLM_TIMEOUT_MS, on the loop through `hc`); any failure or
 * an answer without valid fields falls back to structurer_builtin(). `cb`
 * is called exactly once (at once when no model is configured).
 */
void structurer_structure(http_client *hc, const config *cfg, const char *prompt, structurer_cb cb,
			  void *arg);

#endif
