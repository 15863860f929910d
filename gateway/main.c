/* errand-gateway: the HTTP surface of errand. */
#include <stdlib.h>

#include "attachments.h"
#include "deliveries.h"
#include "gateway.h"
#include "idempotency.h"
#include "jobs.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
#include "principals.h"
#include "runs.h"
#include "verification.h"
#include "service.h"

int main(void)
{
	const db_stmt *const tables[] = { PRINCIPALS_STMTS,  LEDGER_STMTS,	   JOBS_STMTS,
					  OUTBOX_STMTS,	     IDEMPOTENCY_STMTS, ATTACHMENTS_STMTS,
					  RUNS_STMTS,	     DELIVERIES_STMTS,	VERIFICATION_STMTS };
	const size_t counts[] = { PRINCIPALS_STMTS_N,  LEDGER_STMTS_N,	    JOBS_STMTS_N,
				  OUTBOX_STMTS_N,      IDEMPOTENCY_STMTS_N, ATTACHMENTS_STMTS_N,
				  RUNS_STMTS_N,	       DELIVERIES_STMTS_N,  VERIFICATION_STMTS_N };
	service *svc = service_new(PROC_GATEWAY, tables, counts, 9);
	const config *cfg = service_config(svc);
	gateway gw = { .svc = svc, .db = service_db(svc), .cfg = cfg };
	gw.outbox = (outbox){ .db = gw.db,
			      .redis = service_redis(svc),
			      .prefix = cfg->stream_prefix,
			      .maxlen = cfg->stream_maxlen,
			      .base = service_base(svc) };
	gw.has_secrets_key = seal_key_parse(cfg->secrets_key, gw.secrets_key) == 0;
	if (cfg->llm_url && !(gw.hc = http_client_new(service_base(svc)))) {
		log_error("cannot create the HTTP client");
		return 1;
	}
	http_server *http = service_http(svc);
	if (gw_principals_routes(&gw, http) != 0 || gw_wallet_routes(&gw, http) != 0 ||
	    gw_market_routes(&gw, http) != 0 || gw_attachment_routes(&gw, http) != 0 ||
	    gw_dispatch_routes(&gw, http) != 0 || gw_log_routes(&gw, http) != 0) {
		log_error("cannot add the routes");
		return 1;
	}
	int code = service_run(svc);
	http_client_free(gw.hc);
	gw_log_routes_free();
	outbox_free(&gw.outbox);
	service_free(svc);
	return code;
}
