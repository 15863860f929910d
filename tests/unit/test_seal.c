/* Unit tests of seal.c: AES-256-GCM sealing under a hex key. */
#include <openssl/evp.h>

#include "seal.h"
#include "testlib.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2_HEX "f00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void key_from(const char *hex, unsigned char key[SEAL_KEY_LEN])
{
	CHECK_INT(seal_key_parse(hex, key), 0);
}

/* Seals and opens `len` bytes of `plain`; checks the form and the bytes. */
static void round_trip(const unsigned char key[SEAL_KEY_LEN], const void *plain, size_t len)
{
	char *sealed = seal_encrypt(key, plain, len);
	CHECK(sealed != NULL);
	CHECK(strncmp(sealed, "v1.", 3) == 0);
	/* base64 of nonce ‖ ciphertext ‖ tag */
	size_t b64 = strlen(sealed) - 3;
	CHECK_INT(b64 % 4, 0);
	CHECK_INT(b64, 4 * ((12 + len + 16 + 2) / 3));
	size_t out_len = 12345;
	char *opened = seal_decrypt(key, sealed, &out_len);
	CHECK(opened != NULL);
	CHECK_INT(out_len, len);
	CHECK(len == 0 || memcmp(opened, plain, len) == 0);
	CHECK_INT(opened[len], '\0');
	free(opened);
	free(sealed);
}

static void test_key_parse(void)
{
	unsigned char key[SEAL_KEY_LEN];
	CHECK_INT(seal_key_parse(KEY_HEX, key), 0);
	for (int i = 0; i < SEAL_KEY_LEN; i++)
		CHECK_INT(key[i], i);
	/* Upper and mixed case are the same key. */
	unsigned char upper[SEAL_KEY_LEN];
	CHECK_INT(seal_key_parse("FFfeFDfc0405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
				 upper),
		  0);
	CHECK_INT(upper[0], 0xff);
	CHECK_INT(upper[1], 0xfe);
	CHECK_INT(upper[2], 0xfd);
	CHECK_INT(upper[3], 0xfc);
	CHECK_INT(upper[10], 0x0a);

	char hex[80];
	snprintf(hex, sizeof hex, "%s", KEY_HEX);
	hex[63] = '\0'; /* 63 digits */
	CHECK_INT(seal_key_parse(hex, key), -1);
	snprintf(hex, sizeof hex, "%s0", KEY_HEX); /* 65 digits */
	CHECK_INT(seal_key_parse(hex, key), -1);
	snprintf(hex, sizeof hex, "%s00", KEY_HEX); /* 66 digits */
	CHECK_INT(seal_key_parse(hex, key), -1);
	CHECK_INT(seal_key_parse("", key), -1);
	CHECK_INT(seal_key_parse(NULL, key), -1);
	/* A non-hex character anywhere, each position in turn. */
	static const char not_hex[] = "gG -x\n:";
	for (size_t i = 0; i < 64; i++) {
		for (const char *c = not_hex; *c; c++) {
			snprintf(hex, sizeof hex, "%s", KEY_HEX);
			hex[i] = *c;
			if (seal_key_parse(hex, key) != -1) {
				fprintf(stderr, "key with '%c' at %zu accepted\n", *c, i);
				exit(1);
			}
		}
	}
	snprintf(hex, sizeof hex, "0x%.62s", KEY_HEX);
	CHECK_INT(seal_key_parse(hex, key), -1);
}

static void test_round_trip(void)
{
	unsigned char key[SEAL_KEY_LEN];
	key_from(KEY_HEX, key);
	round_trip(key, "", 0);
	round_trip(key, "x", 1);
	round_trip(key, "{\"API_TOKEN\":\"s3cr3t\"}", 22);
	/* Binary, with NUL bytes, of every length around the base64 block size. */
	unsigned char bin[4096];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 8));
	bin[0] = 0;
	bin[5] = 0;
	for (size_t len = 0; len <= 40; len++)
		round_trip(key, bin, len);
	round_trip(key, bin, sizeof bin);
	/* A large value. */
	size_t big = 1 << 20;
	unsigned char *large = malloc(big);
	CHECK(large != NULL);
	for (size_t i = 0; i < big; i++)
		large[i] = (unsigned char)(i ^ (i >> 11));
	round_trip(key, large, big);
	free(large);
}

static void test_nonce_is_fresh(void)
{
	unsigned char key[SEAL_KEY_LEN];
	key_from(KEY_HEX, key);
	char *a = seal_encrypt(key, "same", 4);
	char *b = seal_encrypt(key, "same", 4);
	CHECK(a && b);
	CHECK(strcmp(a, b) != 0);
	/* The nonces differ (the first 12 bytes: 16 base64 characters). */
	CHECK(strncmp(a + 3, b + 3, 16) != 0);
	free(a);
	free(b);
}

static void test_other_key_fails(void)
{
	unsigned char key[SEAL_KEY_LEN], other[SEAL_KEY_LEN];
	key_from(KEY_HEX, key);
	key_from(KEY2_HEX, other);
	char *sealed = seal_encrypt(key, "secret value", 12);
	CHECK(sealed != NULL);
	size_t len = 99;
	CHECK(seal_decrypt(other, sealed, &len) == NULL);
	CHECK_INT(len, 99);
	/* Every single-bit change of the key. */
	for (int i = 0; i < SEAL_KEY_LEN; i++) {
		memcpy(other, key, sizeof other);
		other[i] ^= (unsigned char)(1u << (i % 8));
		CHECK(seal_decrypt(other, sealed, &len) == NULL);
	}
	char *opened = seal_decrypt(key, sealed, &len);
	CHECK(opened != NULL);
	CHECK_STR(opened, "secret value");
	free(opened);
	free(sealed);
}

/* The raw bytes of a sealed text (after "v1."). Returns their number. */
static int raw_of(const char *sealed, unsigned char *raw)
{
	size_t b64 = strlen(sealed + 3);
	int n = EVP_DecodeBlock(raw, (const unsigned char *)sealed + 3, (int)b64);
	CHECK(n >= 0);
	if (b64 >= 1 && sealed[3 + b64 - 1] == '=')
		n--;
	if (b64 >= 2 && sealed[3 + b64 - 2] == '=')
		n--;
	return n;
}

/* "v1." + base64 of `n` bytes of `raw`. Caller frees. */
static char *sealed_of(const unsigned char *raw, int n)
{
	char *out = malloc(3 + 4 * ((size_t)n / 3 + 1) + 1);
	CHECK(out != NULL);
	memcpy(out, "v1.", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, raw, n);
	return out;
}

static void test_changed_byte_fails(void)
{
	unsigned char key[SEAL_KEY_LEN];
	key_from(KEY_HEX, key);
	static const char plain[] = "the agent's API token: abcdef";
	char *sealed = seal_encrypt(key, plain, sizeof plain - 1);
	CHECK(sealed != NULL);
	unsigned char raw[256];
	int n = raw_of(sealed, raw);
	CHECK_INT(n, 12 + (int)(sizeof plain - 1) + 16);

	/* Re-encoding the untouched bytes opens. */
	char *same = sealed_of(raw, n);
	size_t len = 0;
	char *opened = seal_decrypt(key, same, &len);
	CHECK(opened != NULL);
	CHECK_STR(opened, plain);
	free(opened);
	free(same);

	/* One flipped bit in the nonce, the ciphertext or the tag. */
	for (int i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			raw[i] ^= (unsigned char)(1u << bit);
			char *changed = sealed_of(raw, n);
			char *o = seal_decrypt(key, changed, &len);
			if (o) {
				fprintf(stderr, "byte %d bit %d changed and still opened\n", i,
					bit);
				exit(1);
			}
			free(changed);
			raw[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Shorter: the tag cut, bytes dropped, less than nonce and tag. */
	for (int cut = 1; cut <= n; cut++) {
		char *shorter = sealed_of(raw, n - cut);
		CHECK(seal_decrypt(key, shorter, &len) == NULL);
		free(shorter);
	}
	/* Longer: a byte appended. */
	raw[n] = 0;
	char *longer = sealed_of(raw, n + 1);
	CHECK(seal_decrypt(key, longer, &len) == NULL);
	free(longer);
	/* A changed character of the text itself, anywhere before the padding. */
	size_t slen = strlen(sealed);
	for (size_t i = 3; i < slen && sealed[i] != '='; i++) {
		char *t = strdup(sealed);
		CHECK(t != NULL);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		char *o = seal_decrypt(key, t, &len);
		/* The last character before padding carries unused bits: it may only open as-is. */
		if (o) {
			CHECK(i + 1 == slen || sealed[i + 1] == '=');
			CHECK_STR(o, plain);
			free(o);
		}
		free(t);
	}
	free(sealed);
}

static void test_wrong_prefix_or_form_fails(void)
{
	unsigned char key[SEAL_KEY_LEN];
	key_from(KEY_HEX, key);
	char *sealed = seal_encrypt(key, "value", 5);
	CHECK(sealed != NULL);
	size_t len = 0;
	char buf[512];

	snprintf(buf, sizeof buf, "v2.%s", sealed + 3);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, "V1.%s", sealed + 3);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, "v1%s", sealed + 3);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, "%s", sealed + 3); /* no prefix */
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, "v1.v1.%s", sealed + 3);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, " %s", sealed);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	CHECK(seal_decrypt(key, "", &len) == NULL);
	CHECK(seal_decrypt(key, "v1.", &len) == NULL);
	CHECK(seal_decrypt(key, "v1.AAAA", &len) == NULL);
	CHECK(seal_decrypt(key, NULL, &len) == NULL);
	CHECK(seal_decrypt(key, "v1.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &len) == NULL);
	/* Not a multiple of four characters. */
	snprintf(buf, sizeof buf, "%s", sealed);
	buf[strlen(buf) - 1] = '\0';
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	snprintf(buf, sizeof buf, "%sA", sealed);
	CHECK(seal_decrypt(key, buf, &len) == NULL);
	/* The untouched text still opens. */
	char *opened = seal_decrypt(key, sealed, &len);
	CHECK(opened != NULL);
	CHECK_STR(opened, "value");
	CHECK_INT(len, 5);
	free(opened);
	free(sealed);
}

TEST_MAIN(TEST(test_key_parse), TEST(test_round_trip), TEST(test_nonce_is_fresh),
	  TEST(test_other_key_fails), TEST(test_changed_byte_fails),
	  TEST(test_wrong_prefix_or_form_fails))
