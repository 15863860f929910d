/* Encryption at rest with AES-256-GCM (OpenSSL EVP). */
#include "seal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX "v1."

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int seal_key_parse(const char *hex, unsigned char key[SEAL_KEY_LEN])
{
	if (!hex || strlen(hex) != 2 * SEAL_KEY_LEN)
		return -1;
	for (int i = 0; i < SEAL_KEY_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

char *seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *plain, size_t len)
{
	char *out = NULL;
	size_t raw_len = NONCE_LEN + len + TAG_LEN;
	unsigned char *raw = malloc(raw_len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	if (!raw || !ctx || len > (size_t)INT32_MAX)
		goto done;
	if (ids_random_bytes(raw, NONCE_LEN) != 0)
		goto done;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1)
		goto done;
	out = malloc(strlen(PREFIX) + 4 * (raw_len / 3 + 1) + 1);
	if (!out)
		goto done;
	strcpy(out, PREFIX);
	EVP_EncodeBlock((unsigned char *)out + strlen(PREFIX), raw, (int)raw_len);
done:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	return out;
}

char *seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const char *sealed, size_t *len)
{
	char *plain = NULL;
	unsigned char *raw = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	if (!sealed || strncmp(sealed, PREFIX, strlen(PREFIX)) != 0)
		return NULL;
	const char *b64 = sealed + strlen(PREFIX);
	size_t b64_len = strlen(b64);
	if (b64_len % 4 || b64_len > (size_t)INT32_MAX)
		return NULL;
	raw = malloc(b64_len / 4 * 3 + 1);
	if (!raw)
		return NULL;
	int raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (raw_len < 0)
		goto done;
	/* EVP_DecodeBlock counts padding as bytes: drop them. */
	if (b64_len >= 1 && b64[b64_len - 1] == '=')
		raw_len--;
	if (b64_len >= 2 && b64[b64_len - 2] == '=')
		raw_len--;
	if (raw_len < NONCE_LEN + TAG_LEN)
		goto done;
	size_t clen = (size_t)raw_len - NONCE_LEN - TAG_LEN;
	plain = malloc(clen + 1);
	ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	if (!plain || !ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, raw + NONCE_LEN, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + clen) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &fin) != 1) {
		free(plain);
		plain = NULL;
		goto done;
	}
	plain[clen] = '\0';
	*len = clen;
done:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	return plain;
}
