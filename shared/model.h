/* The model: one call to an OpenAI-compatible chat-completions endpoint (ERRAND_LLM_URL). */
#ifndef ERRAND_MODEL_H
#define ERRAND_MODEL_H

#include <jansson.h>

#include "config.h"
#include "http_client.h"

/*
 * The JSON object the model answered: the content of its first choice's
 * message, read by model_content_object() (duplicate keys are refused). `answer` is NULL with `error` saying why when the call failed,
 * the status was not 200 or the content holds no JSON object. `answer` is
 * borrowed: valid during the callback.
 */
typedef void (*model_cb)(void *arg, const json_t *answer, const char *error);

/*
 * Asks the model of ERRAND_LLM_URL (ERRAND_LLM_MODEL, ERRAND_LLM_API_KEY,
 * within ERRAND_LLM_TIMEOUT_MS) with a system and a user message, for a
 * JSON object (response_format json_object, temperature 0), on the loop
 * through `hc`. Returns 0, or -1 when the call could not start (no URL, no
 * client, no memory): `cb` is then not called.
 */
int model_ask(http_client *hc, const config *cfg, const char *system, const char *user,
	      int strict, model_cb cb, void *arg) __attribute__((warn_unused_result));

/*
 * The JSON object in a model's message content. `strict` (a verdict): the
 * whole content (spaces around it aside) or the whole inside of one ```
 * code fence, and anything else (prose around an object included) is no
 * answer. Not strict (an estimate, with a fallback): from the first '{' to
 * the last '}'. New reference, or NULL.
 */
json_t *model_content_object(const char *content, int strict);

#endif
