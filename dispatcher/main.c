/* errand-dispatcher: everything that leaves errand: webhooks, retries, reply fan-out. */
#include "service.h"

int main(void)
{
	service *svc = service_new(PROC_DISPATCHER, NULL, NULL, 0);
	int code = service_run(svc);
	service_free(svc);
	return code;
}
