/* errand-verifier: checks what agents deliver and settles. */
#include "service.h"

int main(void)
{
	service *svc = service_new(PROC_VERIFIER, NULL, NULL, 0);
	return service_run(svc);
}
