/* Fuzz target: API keys and the bearer header as they arrive from clients. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char key_id[IDS_MAX_LEN];
	if (auth_key_parse(s, key_id, sizeof key_id) == 0) {
		/* An accepted key has the documented length and a valid key id. */
		if (strlen(s) != AUTH_KEY_LEN || !ids_valid(key_id, "key"))
			__builtin_trap();
	}
	const char *bearer = auth_bearer(s);
	if (bearer && (bearer < s || bearer > s + size))
		__builtin_trap();
	char hash[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex(s, size, hash);
	if (!auth_hash_equal(hash, hash))
		__builtin_trap();
	free(s);
	return 0;
}
