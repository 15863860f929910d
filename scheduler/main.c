/* errand-scheduler: time- and dependency-driven work: triggers, sweeps, the outbox relay. */
#include "service.h"

int main(void)
{
	service *svc = service_new(PROC_SCHEDULER, NULL, NULL, 0);
	return service_run(svc);
}
