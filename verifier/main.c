/* errand-verifier: checks what agents deliver and settles. */
#include "service.h"

int main(void)
{
	service *svc = service_new(PROC_VERIFIER, NULL, NULL, 0);
	int code = service_run(svc);
	service_free(svc);
	return code;
}
