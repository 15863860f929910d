/* errand-gateway: the HTTP surface of errand. */
#include <stdlib.h>

#include "gateway.h"
#include "log.h"
#include "principals.h"
#include "service.h"

int main(void)
{
	const db_stmt *const tables[] = { PRINCIPALS_STMTS };
	const size_t counts[] = { PRINCIPALS_STMTS_N };
	service *svc = service_new(PROC_GATEWAY, tables, counts, 1);
	gateway gw = { .svc = svc, .db = service_db(svc), .cfg = service_config(svc) };
	if (gw_principals_routes(&gw, service_http(svc)) != 0) {
		log_error("cannot add the routes");
		return 1;
	}
	return service_run(svc);
}
