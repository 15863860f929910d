/* Replies shared by the gateway's route groups. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gateway.h"
#include "jsonschema.h"
#include "verification.h"
#include "webhook.h"

void gw_reply_invalid(http_req *req, const json_error *err)
{
	http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "%s: %s", err->field, err->message);
}

int gw_check_webhook_url(gateway *gw, http_req *req, const char *url, const char *field, ...)
{
	int verdict = webhook_url_check(url);
	if (verdict == WEBHOOK_URL_OK ||
	    (verdict == WEBHOOK_URL_PRIVATE && gw->cfg->webhook_allow_private))
		return 0;
	char name[128];
	va_list ap;
	va_start(ap, field);
	vsnprintf(name, sizeof name, field, ap);
	va_end(ap);
	if (verdict == WEBHOOK_URL_BAD)
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "%s: expected an http:// or https:// URL", name);
	else
		http_reply_error(req, 400, ERR_URL_NOT_ALLOWED,
				 "%s: private, loopback and link-local addresses are not allowed",
				 name);
	return -1;
}

void gw_reply_unavailable(http_req *req)
{
	http_reply_error(req, 503, ERR_DB_UNAVAILABLE, "the database could not answer");
}

/* Reads output_schema: a JSON Schema the validator can use. */
int gw_read_output_schema(http_req *req, const json_t *body, const json_t **out)
{
	*out = json_object_get(body, "output_schema");
	if (*out && json_is_null(*out))
		*out = NULL;
	if (*out && !json_is_object(*out) && !json_is_boolean(*out)) {
		http_reply_error(req, 400, ERR_INVALID_OUTPUT_SCHEMA,
				 "output_schema: expected a JSON Schema (an object or a boolean)");
		return -1;
	}
	if (*out) {
		/* the verifier must be able to use it: refuse it now rather than fail later */
		char err[256];
		jsonschema *s = jsonschema_compile(*out, err, sizeof err);
		if (!s) {
			http_reply_error(req, 400, ERR_INVALID_OUTPUT_SCHEMA, "output_schema: %s", err);
			return -1;
		}
		jsonschema_free(s);
	}
	return 0;
}

int gw_read_verification(gateway *gw, http_req *req, const json_t *body, const char *where,
			 json_t **stored, char secret[WEBHOOK_SECRET_LEN + 1])
{
	json_error err;
	const char *url = NULL;
	int judge = 0, has_judge = 0;
	*stored = NULL;
	secret[0] = '\0';
	json_t *v = json_object_get(body, "verification");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "%s: expected an object", where);
		return -1;
	}
	if (json_opt_string(v, "webhook_url", PRINCIPAL_URL_MAX, &url, NULL, &err) != 0 ||
	    json_opt_bool(v, "judge", &judge, &has_judge, &err) != 0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "%s.%s: %s", where, err.field,
				 err.message);
		return -1;
	}
	if (url && gw_check_webhook_url(gw, req, url, "%s.webhook_url", where) != 0)
		return -1;
	*stored = json_object();
	if (url)
		json_object_set_new(*stored, "webhook_url", json_string(url));
	if (has_judge)
		json_object_set_new(*stored, "judge", json_boolean(judge));
	if (url) {
		char *sealed = NULL;
		if (!gw->has_secrets_key) {
			json_decref(*stored);
			*stored = NULL;
			http_reply_error(req, 503, ERR_SECRETS_UNAVAILABLE,
					 "a verifier's secret needs ERRAND_SECRETS_KEY");
			return -1;
		}
		if (principals_secret_new(gw->secrets_key, secret, WEBHOOK_SECRET_LEN + 1,
					  &sealed) != 0) {
			json_decref(*stored);
			*stored = NULL;
			gw_reply_unavailable(req);
			return -1;
		}
		json_object_set_new(*stored, VERIFY_SECRET_MEMBER, json_string(sealed));
		free(sealed);
	}
	return 0;
}
