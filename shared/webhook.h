/* Standard Webhooks: secrets, signatures and the check of a target address. */
#ifndef ERRAND_WEBHOOK_H
#define ERRAND_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_PREFIX "whsec_"
/* 24 random bytes: "whsec_" and 32 base64 characters. */
#define WEBHOOK_SECRET_BYTES 24
#define WEBHOOK_SECRET_LEN (6 + 32)
/* "v1," and 44 base64 characters of an HMAC-SHA256. */
#define WEBHOOK_SIGNATURE_LEN (3 + 44)

/* Makes a new secret "whsec_<base64 of 24 random bytes>" into `out` (WEBHOOK_SECRET_LEN + 1). */
int webhook_secret_new(char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * The Standard Webhooks signature of one message: "v1," + base64 of
 * HMAC-SHA256 over "<msg_id>.<timestamp>.<body>", keyed with the base64
 * decoding of the secret after "whsec_". Writes WEBHOOK_SIGNATURE_LEN + 1
 * bytes to `out`. Returns 0, or -1 for a malformed secret.
 */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		 size_t len, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * The webhook-signature header for several active secrets (a rotation's
 * overlap): their signatures separated by spaces. `out` must hold
 * nsecrets × (WEBHOOK_SIGNATURE_LEN + 1) bytes. Returns 0 or -1.
 */
int webhook_sign_all(const char *const *secrets, int nsecrets, const char *msg_id,
		     int64_t timestamp, const char *body, size_t len, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/*
 * Nonzero when `signature_header` (space-separated "v1,<sig>" entries)
 * holds a valid signature of the message for `secret`, compared in
 * constant time.
 */
int webhook_verify(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		   size_t len, const char *signature_header);

/*
 * Nonzero when the IPv4 or IPv6 address `addr` (as a struct sockaddr) is
 * private, loopback, link-local, unspecified, multicast or otherwise not a
 * public unicast address: a target errand refuses unless
 * ERRAND_WEBHOOK_ALLOW_PRIVATE is set.
 */
struct sockaddr;
int webhook_address_private(const struct sockaddr *addr);

/* Verdicts of webhook_url_check(). */
#define WEBHOOK_URL_OK 0
#define WEBHOOK_URL_BAD (-1)
#define WEBHOOK_URL_PRIVATE 1

/*
 * Checks a webhook URL before it is stored: WEBHOOK_URL_BAD when it is not
 * an http:// or https:// URL with a host, WEBHOOK_URL_PRIVATE when its host
 * is a literal private, loopback or link-local address or "localhost",
 * else WEBHOOK_URL_OK. Host names are checked again by the dispatcher
 * against the addresses they resolve to, at every connection.
 */
int webhook_url_check(const char *url);

#endif
