/* Fuzz target: what webhooks read from outside: URLs to register, run tokens, signature headers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int verdict = webhook_url_check(s);
	if (verdict != WEBHOOK_URL_OK && verdict != WEBHOOK_URL_BAD &&
	    verdict != WEBHOOK_URL_PRIVATE)
		__builtin_trap();
	/* Only http(s) URLs are ever accepted. */
	if (verdict != WEBHOOK_URL_BAD && strncmp(s, "http://", 7) != 0 &&
	    strncmp(s, "https://", 8) != 0)
		__builtin_trap();
	if (auth_run_token_shaped(s, AUTH_REPLY_TOKEN_PREFIX) && strlen(s) != AUTH_RUN_TOKEN_LEN)
		__builtin_trap();
	/* A signature header of any shape is checked without crashing, and a
	 * made-up one never verifies against a real secret. */
	static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	if (webhook_verify(secret, "msg_1", 1700000000, "{}", 2, s) &&
	    strstr(s, "v1,") == NULL)
		__builtin_trap();
	free(s);
	return 0;
}
