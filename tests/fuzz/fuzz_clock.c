/* Fuzz target: RFC 3339 times as clients send them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t ms = 0;
	if (clock_parse_rfc3339(s, &ms) == 0) {
		/* What parses formats and parses back to the same instant. */
		char buf[CLOCK_RFC3339_LEN];
		int64_t again = 0;
		clock_format_rfc3339(ms, buf);
		if (clock_parse_rfc3339(buf, &again) != 0 || again != ms)
			__builtin_trap();
	}
	free(s);
	return 0;
}
