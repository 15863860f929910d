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
