/* errand-dispatcher: everything that leaves errand: webhooks, retries, reply fan-out. */
#include "service.h"

int main(void)
{
	service *svc = service_new(PROC_DISPATCHER, NULL, NULL, 0);
	return service_run(svc);
}
