/* Unit tests of auth.c: API keys, hashing, constant-time comparison, bearer headers, run tokens. */
#include "auth.h"
#include "ids.h"
#include "testlib.h"

#define GOOD_KEY "ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void test_roles(void)
{
	CHECK(auth_role_valid("user"));
	CHECK(auth_role_valid("agent"));
	CHECK(auth_role_valid("admin"));
	CHECK(!auth_role_valid("Admin"));
	CHECK(!auth_role_valid("root"));
	CHECK(!auth_role_valid(""));
	CHECK(!auth_role_valid(NULL));
}

static void test_key_new(void)
{
	char key[AUTH_KEY_LEN + 1], key_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_new(key, sizeof key, key_id, sizeof key_id), 0);

	CHECK_INT(strlen(key), AUTH_KEY_LEN);
	CHECK_INT(AUTH_KEY_LEN, 73);
	CHECK(strncmp(key, "ek_", 3) == 0);
	CHECK(key[29] == '_');
	for (int i = 30; i < AUTH_KEY_LEN; i++)
		CHECK(strchr(b64url, key[i]) != NULL);
	/* 256 bits in 43 characters: the last one carries 4 bits. */
	CHECK(strchr("AEIMQUYcgkosw048", key[AUTH_KEY_LEN - 1]) != NULL);

	CHECK(ids_valid(key_id, "key"));
	CHECK_INT(strlen(key_id), 4 + 26);
	CHECK(memcmp(key_id + 4, key + 3, 26) == 0);

	char parsed[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(key, parsed, sizeof parsed), 0);
	CHECK_STR(parsed, key_id);

	char key2[AUTH_KEY_LEN + 1], key_id2[IDS_MAX_LEN];
	CHECK_INT(auth_key_new(key2, sizeof key2, key_id2, sizeof key_id2), 0);
	CHECK(strcmp(key_id, key_id2) < 0);
	CHECK(strcmp(key + 30, key2 + 30) != 0);
}

static void test_key_new_small_buffers(void)
{
	char key[AUTH_KEY_LEN + 1], key_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_new(key, AUTH_KEY_LEN, key_id, sizeof key_id), -1);
	CHECK_INT(auth_key_new(key, sizeof key, key_id, 30), -1);
	CHECK_INT(auth_key_new(key, sizeof key, key_id, 31), 0);
	CHECK_INT(auth_key_new(NULL, 0, key_id, sizeof key_id), -1);
}

static void test_key_parse(void)
{
	char id[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(GOOD_KEY, id, sizeof id), 0);
	CHECK_STR(id, "key_01arz3ndektsv4rrffq69g5fav");
	CHECK_INT(auth_key_parse(GOOD_KEY, id, 30), -1);

	/* Every variant of the good key that is not a key. */
	static const char *const bad[] = {
		"",
		"ek_",
		"ak_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"EK_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01arz3ndektsv4rrffq69g5fav-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01ARZ3NDEKTSV4RRFFQ69G5FAV_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01arz3ndektsv4rrffq69g5fau_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_81arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAA",
		" ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"Bearer ek_01arz3ndektsv4rrffq69g5fav_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		strcpy(id, "untouched");
		if (auth_key_parse(bad[i], id, sizeof id) != -1) {
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
			exit(1);
		}
		CHECK_STR(id, "untouched");
	}
	CHECK_INT(auth_key_parse(NULL, id, sizeof id), -1);
}

static void test_hash(void)
{
	char out[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex("abc", 3, out);
	CHECK_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	auth_hash_hex("", 0, out);
	CHECK_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	auth_hash_hex(GOOD_KEY, strlen(GOOD_KEY), out);
	CHECK_STR(out, "0585ce0c350760f40caeecf940183d3299d27cee586dfe675761f9287752d5a0");
	/* Only `len` bytes count. */
	auth_hash_hex("abcdef", 3, out);
	CHECK_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hash_equal(void)
{
	char a[AUTH_HASH_HEX_LEN + 1], b[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex("abc", 3, a);
	memcpy(b, a, sizeof a);
	CHECK(auth_hash_equal(a, b));
	CHECK(auth_hash_equal(a, a));

	b[63] = b[63] == '0' ? '1' : '0';
	CHECK(!auth_hash_equal(a, b));
	memcpy(b, a, sizeof a);
	b[0] = b[0] == '0' ? '1' : '0';
	CHECK(!auth_hash_equal(a, b));

	/* Both must be exactly 64 characters. */
	char longer[AUTH_HASH_HEX_LEN + 2];
	memcpy(longer, a, AUTH_HASH_HEX_LEN);
	longer[64] = '0';
	longer[65] = '\0';
	CHECK(!auth_hash_equal(a, longer));
	CHECK(!auth_hash_equal(longer, a));
	memcpy(b, a, sizeof a);
	b[63] = '\0';
	CHECK(!auth_hash_equal(b, b));
	CHECK(!auth_hash_equal("", ""));
	CHECK(!auth_hash_equal(NULL, a));
	CHECK(!auth_hash_equal(a, NULL));
	CHECK(!auth_hash_equal(NULL, NULL));
}

static void test_bearer(void)
{
	const char *h = "Bearer " GOOD_KEY;
	CHECK(auth_bearer(h) == h + 7);
	CHECK_STR(auth_bearer("bearer abc"), "abc");
	CHECK_STR(auth_bearer("BEARER abc"), "abc");
	CHECK_STR(auth_bearer("bEaReR    abc"), "abc");

	CHECK(auth_bearer(NULL) == NULL);
	CHECK(auth_bearer("") == NULL);
	CHECK(auth_bearer("Bearer") == NULL);
	CHECK(auth_bearer("Bearer ") == NULL);
	CHECK(auth_bearer("Bearer     ") == NULL);
	CHECK(auth_bearer("Bearerabc") == NULL);
	CHECK(auth_bearer("Bearer\tabc") == NULL);
	CHECK(auth_bearer("Basic abc") == NULL);
	CHECK(auth_bearer(" Bearer abc") == NULL);
	CHECK(auth_bearer("Bearer abc def") == NULL);
	CHECK(auth_bearer("Bearer abc ") == NULL);
	CHECK(auth_bearer("Bear abc") == NULL);
}

/* ===== Run tokens ===== */

#define RUN_ID "run_01m84k97be7pydxb20ygd3kmad"

static void test_run_token_vector(void)
{
	/* HMAC-SHA256 of "<prefix>:<run id>", base64url without padding (a fixed vector). */
	unsigned char key[32];
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	char token[AUTH_RUN_TOKEN_LEN + 1];
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, RUN_ID, token), 0);
	CHECK_STR(token, "rpl_rd_cw_kxhya2j2OkCxTL5BZzfJ2H-UEr1fhV6CDunHU");
	CHECK_INT(auth_run_token(key, AUTH_MCP_TOKEN_PREFIX, RUN_ID, token), 0);
	CHECK_STR(token, "mcp_4j7GwHEQjy8aEIeKdtxIkfvkRfZqoUNACC1Tcmg9AeY");
}

static void test_run_token_deterministic(void)
{
	unsigned char key[32], other[32];
	memset(key, 0x42, sizeof key);
	memcpy(other, key, sizeof other);
	other[31] ^= 1;
	char a[AUTH_RUN_TOKEN_LEN + 1], b[AUTH_RUN_TOKEN_LEN + 1];

	/* The same (key, prefix, run) gives the same token every time: every retry sends it. */
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, RUN_ID, a), 0);
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, RUN_ID, b), 0);
	CHECK_STR(a, b);

	/* Its shape: "rpl_" and 43 base64url characters, the last carrying 4 bits. */
	CHECK_INT(strlen(a), AUTH_RUN_TOKEN_LEN);
	CHECK_INT(AUTH_RUN_TOKEN_LEN, 47);
	CHECK(strncmp(a, "rpl_", 4) == 0);
	for (int i = 4; i < AUTH_RUN_TOKEN_LEN; i++)
		CHECK(strchr(b64url, a[i]) != NULL);
	CHECK(strchr("AEIMQUYcgkosw048", a[AUTH_RUN_TOKEN_LEN - 1]) != NULL);

	/* Another key, prefix or run: another secret part. */
	CHECK_INT(auth_run_token(other, AUTH_REPLY_TOKEN_PREFIX, RUN_ID, b), 0);
	CHECK(strcmp(a + 4, b + 4) != 0);
	CHECK_INT(auth_run_token(key, AUTH_MCP_TOKEN_PREFIX, RUN_ID, b), 0);
	CHECK(strncmp(b, "mcp_", 4) == 0);
	CHECK(strcmp(a + 4, b + 4) != 0);
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, "run_01m84k97be7pydxb20ygd3kmae", b),
		  0);
	CHECK(strcmp(a + 4, b + 4) != 0);

	/* Many runs, no collision and always well shaped. */
	char seen[64][AUTH_RUN_TOKEN_LEN + 1];
	for (int i = 0; i < 64; i++) {
		char run[IDS_MAX_LEN];
		CHECK_INT(ids_new("run", run), 0);
		CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, run, seen[i]), 0);
		CHECK(auth_run_token_shaped(seen[i], AUTH_REPLY_TOKEN_PREFIX));
		for (int j = 0; j < i; j++)
			CHECK(strcmp(seen[i], seen[j]) != 0);
	}
}

static void test_run_token_refused_inputs(void)
{
	unsigned char key[32];
	memset(key, 0x42, sizeof key);
	char token[AUTH_RUN_TOKEN_LEN + 1];
	/* A prefix of another length, and a message that does not fit. */
	CHECK_INT(auth_run_token(key, "rp", RUN_ID, token), -1);
	CHECK_INT(auth_run_token(key, "rply", RUN_ID, token), -1);
	CHECK_INT(auth_run_token(key, "", RUN_ID, token), -1);
	char long_id[128];
	memset(long_id, 'a', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, long_id, token), -1);
}

static void test_run_token_shaped(void)
{
	unsigned char key[32];
	memset(key, 0x07, sizeof key);
	char rpl[AUTH_RUN_TOKEN_LEN + 1], mcp[AUTH_RUN_TOKEN_LEN + 1];
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, RUN_ID, rpl), 0);
	CHECK_INT(auth_run_token(key, AUTH_MCP_TOKEN_PREFIX, RUN_ID, mcp), 0);
	CHECK(auth_run_token_shaped(rpl, AUTH_REPLY_TOKEN_PREFIX));
	CHECK(auth_run_token_shaped(mcp, AUTH_MCP_TOKEN_PREFIX));
	/* Each prefix its own. */
	CHECK(!auth_run_token_shaped(rpl, AUTH_MCP_TOKEN_PREFIX));
	CHECK(!auth_run_token_shaped(mcp, AUTH_REPLY_TOKEN_PREFIX));
	/* Any 43 base64url characters have the shape (it says nothing of validity). */
	CHECK(auth_run_token_shaped("rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				    AUTH_REPLY_TOKEN_PREFIX));
	CHECK(auth_run_token_shaped("rpl_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-",
				    AUTH_REPLY_TOKEN_PREFIX));

	static const char *const bad[] = {
		"",
		"rpl_",
		"rpl",
		/* 42 and 44 characters */
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		/* standard base64, padding, spaces, other bytes */
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"rpl_AAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAA",
		"rpl_AAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAA",
		"rpl_AAAAAAAAAAAAAAAAAAAAA\xc3\xa9"
		"AAAAAAAAAAAAAAAAAAAA",
		/* the prefix and its separator */
		"RPL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"rpl-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"rplAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"mcp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ek_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		" rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"rpl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ",
		GOOD_KEY,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (auth_run_token_shaped(bad[i], AUTH_REPLY_TOKEN_PREFIX)) {
			fprintf(stderr, "shaped: \"%s\"\n", bad[i]);
			exit(1);
		}
	}
	/* A NUL inside: only what precedes it counts, which is too short. */
	char cut[AUTH_RUN_TOKEN_LEN + 1];
	memcpy(cut, rpl, sizeof cut);
	cut[20] = '\0';
	CHECK(!auth_run_token_shaped(cut, AUTH_REPLY_TOKEN_PREFIX));
	CHECK(!auth_run_token_shaped(NULL, AUTH_REPLY_TOKEN_PREFIX));
	CHECK(!auth_run_token_shaped(NULL, AUTH_MCP_TOKEN_PREFIX));
}

TEST_MAIN(TEST(test_roles), TEST(test_key_new), TEST(test_key_new_small_buffers),
	  TEST(test_key_parse), TEST(test_hash), TEST(test_hash_equal), TEST(test_bearer),
	  TEST(test_run_token_vector), TEST(test_run_token_deterministic),
	  TEST(test_run_token_refused_inputs), TEST(test_run_token_shaped))
