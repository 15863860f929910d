/* The model: one call to an OpenAI-compatible chat-completions endpoint (ERRAND_LLM_URL). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_call {
	model_cb cb;
	void *arg;
	int strict;
} model_call;

json_t *model_content_object(const char *content, int strict)
{
	if (!content)
		return NULL;
	if (!strict) {
		const char *first = strchr(content, '{');
		const char *last = strrchr(content, '}');
		json_error_t jerr;
		json_t *obj = first && last && last > first
				      ? json_loadb(first, (size_t)(last - first + 1),
						   JSON_REJECT_DUPLICATES, &jerr)
				      : NULL;
		if (!json_is_object(obj)) {
			json_decref(obj);
			return NULL;
		}
		return obj;
	}
	const char *start = content;
	while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
		start++;
	const char *end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
			       end[-1] == '\r'))
		end--;
	if (end - start >= 6 && strncmp(start, "```", 3) == 0 && strncmp(end - 3, "```", 3) == 0) {
		/* one fence: ```json\n{…}\n``` */
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		if (!nl || nl >= end - 3)
			return NULL;
		start = nl + 1;
		end -= 3;
	}
	json_error_t jerr;
	json_t *obj = json_loadb(start, (size_t)(end - start), JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static void on_answer(void *arg, const http_response *resp)
{
	model_call *m = arg;
	char why[64];
	if (resp->error || resp->status != 200) {
		snprintf(why, sizeof why, "HTTP %ld", resp->status);
		m->cb(m->arg, NULL, resp->error ? resp->error : why);
	} else {
		json_error_t jerr;
		json_t *body = json_loadb(resp->body, resp->len, 0, &jerr);
		const char *content = json_string_value(json_object_get(
			json_object_get(json_array_get(json_object_get(body, "choices"), 0),
					"message"),
			"content"));
		json_t *obj = model_content_object(content, m->strict);
		m->cb(m->arg, obj, obj ? NULL : "the answer holds no JSON object");
		json_decref(obj);
		json_decref(body);
	}
	free(m);
}

int model_ask(http_client *hc, const config *cfg, const char *system, const char *user,
	      int strict, model_cb cb, void *arg)
{
	if (!cfg->llm_url || !hc)
		return -1;
	json_t *req = json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}],s:{s:s},s:f}", "model",
				cfg->llm_model, "messages", "role", "system", "content", system,
				"role", "user", "content", user, "response_format", "type",
				"json_object", "temperature", 0.0);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	model_call *m = calloc(1, sizeof *m);
	char auth[4200];
	const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
	if (cfg->llm_api_key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->llm_api_key);
		headers[1] = auth;
	}
	if (!m || !body) {
		free(m);
		free(body);
		return -1;
	}
	m->cb = cb;
	m->arg = arg;
	m->strict = strict;
	int r = http_client_post(hc, cfg->llm_url, headers, body, strlen(body), cfg->llm_timeout_ms,
				 on_answer, m);
	free(body);
	if (r != 0) {
		free(m);
		return -1;
	}
	return 0;
}
