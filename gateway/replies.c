/* Replies shared by the gateway's route groups. */
#include "gateway.h"

void gw_reply_invalid(http_req *req, const json_error *err)
{
	http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "%s: %s", err->field, err->message);
}

void gw_reply_unavailable(http_req *req)
{
	http_reply_error(req, 503, ERR_DB_UNAVAILABLE, "the database could not answer");
}

/* Reads output_schema: a JSON object or boolean. */
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
	return 0;
}
