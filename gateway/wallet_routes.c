/* Wallet routes: balances, history and the admin top-up. */
#include <string.h>

#include "gateway.h"
#include "ledger.h"
#include "pagination.h"

/* Turns a ledger answer into the HTTP reply (`status` on success). */
static void reply_ledger(http_req *req, int status, json_t *result, const char *code,
			 const char *message)
{
	if (result)
		http_reply_json(req, status, result);
	else if (strcmp(code, LEDGER_ERR_NOT_FOUND) == 0)
		http_reply_error(req, 404, code, "%s", message);
	else if (strcmp(code, "invalid_cursor") == 0)
		http_reply_error(req, 400, code, "%s", message);
	else
		gw_reply_unavailable(req);
}

static void on_wallet(void *arg, json_t *result, const char *code, const char *message)
{
	reply_ledger(arg, 200, result, code, message);
}

static void wallet(gateway *gw, http_req *req, const principal *p)
{
	ledger_wallet(gw->db, p->id, on_wallet, req);
}

static void wallet_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_USER | ALLOW_AGENT, wallet);
}

static void transactions(gateway *gw, http_req *req, const principal *p)
{
	int limit;
	if (pagination_limit(http_req_query(req, "limit"), &limit) != 0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "limit: expected an integer from 1 to %d", PAGINATION_MAX_LIMIT);
		return;
	}
	ledger_transactions(gw->db, p->id, limit, http_req_query(req, "cursor"), on_wallet, req);
}

static void transactions_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_USER | ALLOW_AGENT, transactions);
}

static void topup(gateway *gw, http_req *req, const principal *p)
{
	(void)p;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	int64_t amount = 0;
	int present = 0;
	json_error err;
	if (json_opt_int(body, "amount_cents", 1, LEDGER_TOPUP_MAX, &amount, &present, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	if (!present) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "amount_cents: required");
		return;
	}
	const char *who = http_req_param(req, "principal");
	if (!who || !ids_valid(who, NULL)) {
		http_reply_error(req, 404, LEDGER_ERR_NOT_FOUND, "no such principal");
		return;
	}
	ledger_topup(gw->db, who, amount, NULL, on_wallet, req);
}

static void topup_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ADMIN, topup);
}

int gw_wallet_routes(gateway *gw, http_server *http)
{
	if (http_route(http, "GET", "/api/wallet", wallet_route, gw) != 0 ||
	    http_route(http, "GET", "/api/wallet/transactions", transactions_route, gw) != 0 ||
	    http_route(http, "POST", "/v1/admin/wallets/:principal/topup", topup_route, gw) != 0)
		return -1;
	return 0;
}
