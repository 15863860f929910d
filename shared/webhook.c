/* Standard Webhooks signing (HMAC-SHA256, base64) and the private-address rule. */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ids.h"

#define MAX_KEY 64

int webhook_secret_new(char *out, size_t outlen)
{
	unsigned char raw[WEBHOOK_SECRET_BYTES];
	if (outlen < WEBHOOK_SECRET_LEN + 1 || ids_random_bytes(raw, sizeof raw) != 0)
		return -1;
	memcpy(out, WEBHOOK_SECRET_PREFIX, 6);
	EVP_EncodeBlock((unsigned char *)out + 6, raw, sizeof raw);
	return 0;
}

/* The key bytes of a "whsec_…" secret. Returns their count, or -1. */
static int secret_key(const char *secret, unsigned char key[MAX_KEY])
{
	if (strncmp(secret, WEBHOOK_SECRET_PREFIX, 6) != 0)
		return -1;
	const char *b64 = secret + 6;
	size_t n = strlen(b64);
	if (n == 0 || n % 4 || n / 4 * 3 > MAX_KEY)
		return -1;
	int len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -1;
	if (b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	return len;
}

int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		 size_t len, char *out, size_t outlen)
{
	unsigned char key[MAX_KEY];
	int klen = secret_key(secret, key);
	if (klen <= 0 || outlen < WEBHOOK_SIGNATURE_LEN + 1)
		return -1;
	char head[128];
	int hlen = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp);
	if (hlen < 0 || (size_t)hlen >= sizeof head)
		return -1;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	int ok = 0;
	/* HMAC over the header and the body without copying the body. */
	EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *mctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t got = 0;
	if (mctx && EVP_MAC_init(mctx, key, (size_t)klen, params) == 1 &&
	    EVP_MAC_update(mctx, (const unsigned char *)head, (size_t)hlen) == 1 &&
	    EVP_MAC_update(mctx, (const unsigned char *)body, len) == 1 &&
	    EVP_MAC_final(mctx, mac, &got, sizeof mac) == 1) {
		mlen = (unsigned int)got;
		ok = 1;
	}
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(alg);
	OPENSSL_cleanse(key, sizeof key);
	if (!ok || mlen != 32)
		return -1;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mlen);
	return 0;
}

int webhook_sign_all(const char *const *secrets, int nsecrets, const char *msg_id,
		     int64_t timestamp, const char *body, size_t len, char *out, size_t outlen)
{
	size_t used = 0;
	if (nsecrets < 1 || outlen < (size_t)nsecrets * (WEBHOOK_SIGNATURE_LEN + 1))
		return -1;
	for (int i = 0; i < nsecrets; i++) {
		if (i)
			out[used++] = ' ';
		if (webhook_sign(secrets[i], msg_id, timestamp, body, len, out + used,
				 outlen - used) != 0)
			return -1;
		used += WEBHOOK_SIGNATURE_LEN;
	}
	out[used] = '\0';
	return 0;
}

int webhook_verify(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		   size_t len, const char *signature_header)
{
	char want[WEBHOOK_SIGNATURE_LEN + 1];
	if (!signature_header ||
	    webhook_sign(secret, msg_id, timestamp, body, len, want, sizeof want) != 0)
		return 0;
	const char *p = signature_header;
	int found = 0;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == WEBHOOK_SIGNATURE_LEN && CRYPTO_memcmp(p, want, n) == 0)
			found = 1;
		p += n;
	}
	return found;
}

/* Nonzero when the IPv4 address (host order) is not public unicast. */
static int v4_private(uint32_t a)
{
	return (a >> 24) == 0 ||			/* 0.0.0.0/8 */
	       (a >> 24) == 10 ||			/* 10/8 */
	       (a >> 24) == 127 ||			/* loopback */
	       (a >> 22) == (100u << 2 | 1) ||		/* 100.64/10 shared address space */
	       (a >> 16) == (169u << 8 | 254) ||	/* link-local */
	       (a >> 20) == (172u << 4 | 1) ||		/* 172.16/12 */
	       (a >> 16) == (192u << 8 | 168) ||	/* 192.168/16 */
	       (a >> 8) == (192u << 16 | 0 << 8 | 0) || /* 192.0.0/24 */
	       (a >> 17) == (198u << 7 | 9) ||		/* 198.18/15 benchmarking */
	       (a >> 8) == (192u << 16 | 0 << 8 | 2) ||	/* 192.0.2/24 documentation */
	       (a >> 8) == (198u << 16 | 51 << 8 | 100) || /* 198.51.100/24 documentation */
	       (a >> 8) == (203u << 16 | 0 << 8 | 113) ||  /* 203.0.113/24 documentation */
	       (a >> 28) >= 14;				/* multicast and reserved */
}

int webhook_address_private(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		return v4_private(ntohl(in->sin_addr.s_addr));
	}
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		const unsigned char *b = a->s6_addr;
		static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b }; /* 64:ff9b::/96 */
		static const unsigned char nat64_local[6] = { 0, 0x64, 0xff, 0x9b, 0, 1 };
		static const unsigned char doc[4] = { 0x20, 0x01, 0x0d, 0xb8 }; /* 2001:db8::/32 */
		static const unsigned char teredo[4] = { 0x20, 0x01, 0, 0 };    /* 2001::/32 */
		if (memcmp(b, nat64_local, sizeof nat64_local) == 0 || /* 64:ff9b:1::/48, local */
		    memcmp(b, doc, sizeof doc) == 0 || memcmp(b, teredo, sizeof teredo) == 0)
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) ||
		    memcmp(b, nat64, sizeof nat64) == 0) {
			uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				      (uint32_t)b[14] << 8 | b[15];
			return v4_private(v4);
		}
		if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4 2002::/16 carries an IPv4 address */
			uint32_t v4 = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
				      (uint32_t)b[4] << 8 | b[5];
			return v4_private(v4);
		}
		return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		       IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
		       IN6_IS_ADDR_MULTICAST(a) || (b[0] & 0xfe) == 0xfc; /* fc00::/7 */
	}
	return 1;
}

int webhook_url_check(const char *url)
{
	int verdict = WEBHOOK_URL_BAD;
	char *host = NULL;
	CURLU *u = curl_url();
	if (!u || !url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !host[0])
		goto done;
	verdict = WEBHOOK_URL_OK;
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.') /* "localhost." is "localhost" */
		host[--n] = '\0';
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
		if (inet_pton(AF_INET6, host + 1, &a6.sin6_addr) == 1 &&
		    webhook_address_private((struct sockaddr *)&a6))
			verdict = WEBHOOK_URL_PRIVATE;
		goto done;
	}
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
		if (webhook_address_private((struct sockaddr *)&a4))
			verdict = WEBHOOK_URL_PRIVATE;
		goto done;
	}
	const char *local = ".localhost";
	if (strcasecmp(host, "localhost") == 0 ||
	    (n > strlen(local) && strcasecmp(host + n - strlen(local), local) == 0))
		verdict = WEBHOOK_URL_PRIVATE;
done:
	curl_free(host);
	curl_url_cleanup(u);
	return verdict;
}
