/* API keys: generation, hashing, parsing and constant-time checking. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ids.h"

#define KEY_ID_PREFIX "key"
#define BEARER_SCHEME "Bearer"
#define SECRET_BYTES 32
#define SECRET_CHARS 43 /* base64url of 32 bytes, no padding */
#define BODY_OFFSET (sizeof AUTH_KEY_PREFIX - 1)
#define SECRET_OFFSET (BODY_OFFSET + IDS_BODY_LEN + 1)

static const char b64url[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Encodes `n` bytes as base64url without padding into `out`, which must
 * hold 4 * ceil(n / 3) bytes; writes a NUL after the last character and
 * returns the number of characters.
 */
static size_t base64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return o;
}

/* Writes "key_<body>" (the first 26 characters at `body`) into `key_id`. */
static int write_key_id(const char *body, char *key_id, size_t idlen)
{
	size_t need = sizeof KEY_ID_PREFIX - 1 + 1 + IDS_BODY_LEN + 1;
	if (!key_id || idlen < need)
		return -1;
	memcpy(key_id, KEY_ID_PREFIX "_", sizeof KEY_ID_PREFIX);
	memcpy(key_id + sizeof KEY_ID_PREFIX, body, IDS_BODY_LEN);
	key_id[need - 1] = '\0';
	return 0;
}

int auth_role_valid(const char *role)
{
	return role && (strcmp(role, ROLE_USER) == 0 || strcmp(role, ROLE_AGENT) == 0 ||
			strcmp(role, ROLE_ADMIN) == 0);
}

int auth_key_new(char *key, size_t keylen, char *key_id, size_t idlen)
{
	char id[IDS_MAX_LEN];
	unsigned char secret[SECRET_BYTES];
	char encoded[4 * ((SECRET_BYTES + 2) / 3) + 1];
	int rc = -1;

	if (!key || keylen < AUTH_KEY_LEN + 1)
		goto done;
	if (ids_new(KEY_ID_PREFIX, id) < 0 || ids_random_bytes(secret, sizeof secret) < 0)
		goto done;
	if (base64url_encode(secret, sizeof secret, encoded) != SECRET_CHARS)
		goto done;
	if (write_key_id(id + sizeof KEY_ID_PREFIX, key_id, idlen) < 0)
		goto done;

	memcpy(key, AUTH_KEY_PREFIX, BODY_OFFSET);
	memcpy(key + BODY_OFFSET, id + sizeof KEY_ID_PREFIX, IDS_BODY_LEN);
	key[SECRET_OFFSET - 1] = '_';
	memcpy(key + SECRET_OFFSET, encoded, SECRET_CHARS);
	key[AUTH_KEY_LEN] = '\0';
	rc = 0;
done:
	OPENSSL_cleanse(secret, sizeof secret);
	OPENSSL_cleanse(encoded, sizeof encoded);
	return rc;
}

int auth_key_parse(const char *key, char *key_id, size_t idlen)
{
	char id[IDS_MAX_LEN];

	if (!key || strnlen(key, AUTH_KEY_LEN + 1) != AUTH_KEY_LEN)
		return -1;
	if (memcmp(key, AUTH_KEY_PREFIX, BODY_OFFSET) != 0 || key[SECRET_OFFSET - 1] != '_')
		return -1;
	for (size_t i = SECRET_OFFSET; i < AUTH_KEY_LEN; i++) {
		if (!memchr(b64url, key[i], sizeof b64url))
			return -1;
	}
	if (write_key_id(key + BODY_OFFSET, id, sizeof id) < 0 || !ids_valid(id, KEY_ID_PREFIX))
		return -1;
	if (!key_id || idlen < strlen(id) + 1)
		return -1;
	memcpy(key_id, id, strlen(id) + 1);
	return 0;
}

void auth_hash_hex(const char *s, size_t len, char out[AUTH_HASH_HEX_LEN + 1])
{
	static const char hex[16] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) || mdlen * 2 != AUTH_HASH_HEX_LEN) {
		/* Cannot happen with a working libcrypto; match nothing. */
		out[0] = '\0';
		return;
	}
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[AUTH_HASH_HEX_LEN] = '\0';
}

int auth_hash_equal(const char *a, const char *b)
{
	if (!a || !b || strnlen(a, AUTH_HASH_HEX_LEN + 1) != AUTH_HASH_HEX_LEN ||
	    strnlen(b, AUTH_HASH_HEX_LEN + 1) != AUTH_HASH_HEX_LEN)
		return 0;
	return CRYPTO_memcmp(a, b, AUTH_HASH_HEX_LEN) == 0;
}

const char *auth_bearer(const char *header)
{
	size_t slen = sizeof BEARER_SCHEME - 1;

	if (!header)
		return NULL;
	if (strncasecmp(header, BEARER_SCHEME, slen) != 0 || header[slen] != ' ')
		return NULL;
	const char *key = header + slen;
	while (*key == ' ')
		key++;
	/* One token: a space inside or after it means this is not a key. */
	if (*key == '\0' || strchr(key, ' '))
		return NULL;
	return key;
}

int auth_run_token(const unsigned char key[32], const char *prefix, const char *run_id,
		   char out[AUTH_RUN_TOKEN_LEN + 1])
{
	char msg[64];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int n = snprintf(msg, sizeof msg, "%s:%s", prefix, run_id);
	if (n < 0 || (size_t)n >= sizeof msg || strlen(prefix) != 3)
		return -1;
	if (!HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, (size_t)n, mac, &maclen) ||
	    maclen != SECRET_BYTES)
		return -1;
	memcpy(out, prefix, 3);
	out[3] = '_';
	return base64url_encode(mac, maclen, out + 4) == SECRET_CHARS ? 0 : -1;
}

int auth_run_token_hashes(const unsigned char key[32], const char *run_id,
			  char reply_hash[AUTH_HASH_HEX_LEN + 1], char mcp_hash[AUTH_HASH_HEX_LEN + 1])
{
	char token[AUTH_RUN_TOKEN_LEN + 1];
	if (auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, run_id, token) != 0)
		return -1;
	auth_hash_hex(token, strlen(token), reply_hash);
	if (auth_run_token(key, AUTH_MCP_TOKEN_PREFIX, run_id, token) != 0)
		return -1;
	auth_hash_hex(token, strlen(token), mcp_hash);
	return 0;
}

int auth_run_token_shaped(const char *token, const char *prefix)
{
	if (!token || strlen(token) != AUTH_RUN_TOKEN_LEN || strncmp(token, prefix, 3) != 0 ||
	    token[3] != '_')
		return 0;
	for (size_t i = 4; i < AUTH_RUN_TOKEN_LEN; i++)
		if (!memchr(b64url, token[i], sizeof b64url))
			return 0;
	return 1;
}
