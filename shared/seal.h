/* Encryption at rest: AES-256-GCM under ERRAND_SECRETS_KEY, for secrets such as a job's envVars. */
#ifndef ERRAND_SEAL_H
#define ERRAND_SEAL_H

#include <stddef.h>

#define SEAL_KEY_LEN 32

/*
 * Reads a key of 64 hex digits into `key`. Returns 0, or -1 when `hex` is
 * NULL or malformed.
 */
int seal_key_parse(const char *hex, unsigned char key[SEAL_KEY_LEN])
	__attribute__((warn_unused_result));

/*
 * Seals `len` bytes: "v1." + base64(12-byte random nonce ‖ ciphertext ‖
 * 16-byte tag). Caller frees. NULL on failure.
 */
char *seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *plain, size_t len);

/*
 * Opens what seal_encrypt() made. Returns the plaintext with a NUL after
 * it (caller frees) and its length in `*len`, or NULL when the text was
 * not sealed with this key or was changed.
 */
char *seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const char *sealed, size_t *len);

#endif
