/* API keys: generation, hashing, parsing and constant-time checking. */
#ifndef ERRAND_AUTH_H
#define ERRAND_AUTH_H

#include <stddef.h>

/*
 * A key reads "ek_<key id>_<secret>": the key id is the 26-character ULID
 * body of the row in api_keys (it is how a key is found), the secret 43
 * base64url characters (256 random bits). Only SHA-256 of the whole key is
 * stored.
 */
#define AUTH_KEY_PREFIX "ek_"
#define AUTH_KEY_LEN (3 + 26 + 1 + 43)
#define AUTH_HASH_HEX_LEN 64

/* Roles of principals. */
#define ROLE_USER "user"
#define ROLE_AGENT "agent"
#define ROLE_ADMIN "admin"

/* Nonzero when `role` is one of the three roles. */
int auth_role_valid(const char *role);

/*
 * Makes a new key: writes the key (AUTH_KEY_LEN + 1 bytes) and its key id
 * ("key_<ulid>", IDS_MAX_LEN bytes). Returns 0 or -1.
 */
int auth_key_new(char *key, size_t keylen, char *key_id, size_t idlen)
	__attribute__((warn_unused_result));

/*
 * Splits a presented key: on success writes its key id ("key_<ulid>") and
 * returns 0; -1 when `key` is not of the form above.
 */
int auth_key_parse(const char *key, char *key_id, size_t idlen) __attribute__((warn_unused_result));

/* Hex SHA-256 of `s` into `out` (AUTH_HASH_HEX_LEN + 1 bytes). */
void auth_hash_hex(const char *s, size_t len, char out[AUTH_HASH_HEX_LEN + 1]);

/* Compares two hex hashes in constant time. Nonzero when equal. */
int auth_hash_equal(const char *a, const char *b);

/*
 * The key of an "Authorization: Bearer <key>" header value, or NULL when
 * the header is absent or of another scheme. Points into `header`. The
 * scheme matches in any case and is followed by one or more spaces; the key
 * is the single token after them, so a value with anything after the key,
 * spaces included, gives NULL (evhttp strips trailing whitespace from
 * header values before they get here; a const string cannot be trimmed).
 */
const char *auth_bearer(const char *header);

/*
 * Run-scoped tokens (the reply token and the MCP token of a run). A token
 * reads "<prefix>_<43 base64url characters>": HMAC-SHA256 under the
 * deployment's ERRAND_SECRETS_KEY of "<prefix>:<run id>", so the dispatcher
 * can send the same token on every retry of a webhook while the database
 * keeps only the token's SHA-256 (auth_hash_hex), by which the run is found.
 */
#define AUTH_REPLY_TOKEN_PREFIX "rpl"
#define AUTH_MCP_TOKEN_PREFIX "mcp"
#define AUTH_RUN_TOKEN_LEN (3 + 1 + 43)

/*
 * Writes the token of `prefix` (one of the two above) for `run_id` into
 * `out` (AUTH_RUN_TOKEN_LEN + 1 bytes). Returns 0 or -1.
 */
int auth_run_token(const unsigned char key[32], const char *prefix, const char *run_id,
		   char out[AUTH_RUN_TOKEN_LEN + 1]) __attribute__((warn_unused_result));

/*
 * Writes the hex SHA-256 of run `run_id`'s reply token and of its MCP token
 * (what the database stores) into `reply_hash` and `mcp_hash`
 * (AUTH_HASH_HEX_LEN + 1 bytes each). Returns 0 or -1.
 */
int auth_run_token_hashes(const unsigned char key[32], const char *run_id,
			  char reply_hash[AUTH_HASH_HEX_LEN + 1], char mcp_hash[AUTH_HASH_HEX_LEN + 1])
	__attribute__((warn_unused_result));

/* Nonzero when `token` has the shape of a run token of `prefix` (says nothing of its validity). */
int auth_run_token_shaped(const char *token, const char *prefix);

#endif
