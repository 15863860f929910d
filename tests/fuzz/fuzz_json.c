/* Fuzz target: bounded JSON parsing of request bodies. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	int depth = json_text_depth((const char *)data, size);
	json_t *v = json_parse_bounded((const char *)data, size, 32, &err);
	if (v) {
		/* A parsed value never nests deeper than the limit, and serialises. */
		if (depth > 32)
			__builtin_trap();
		char *text = json_dump_compact(v);
		free(text);
		json_decref(v);
	} else if (!err) {
		__builtin_trap();
	}
	return 0;
}
