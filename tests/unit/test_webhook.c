/* Unit tests of webhook.c: Standard Webhooks signatures and the private-address rule. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "testlib.h"
#include "webhook.h"

/* The example of the Standard Webhooks specification and its reference libraries. */
#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS 1614265330
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_spec_vector(void)
{
	char sig[WEBHOOK_SIGNATURE_LEN + 1];
	CHECK_INT(webhook_sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), sig,
			       sizeof sig),
		  0);
	CHECK_STR(sig, SPEC_SIG);
	CHECK(webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY),
			     SPEC_SIG));
}

static void test_verify_refuses_changes(void)
{
	const char *body = SPEC_BODY;
	CHECK(!webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS + 1, body, strlen(body), SPEC_SIG));
	CHECK(!webhook_verify(SPEC_SECRET, "msg_other", SPEC_TS, body, strlen(body), SPEC_SIG));
	CHECK(!webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, "{\"test\": 2432232315}", strlen(body),
			      SPEC_SIG));
	CHECK(!webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, body, strlen(body),
			      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="));
	CHECK(!webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, body, strlen(body), ""));
	CHECK(!webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, body, strlen(body), NULL));
	/* one good signature among several is enough */
	CHECK(webhook_verify(SPEC_SECRET, SPEC_ID, SPEC_TS, body, strlen(body),
			     "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SPEC_SIG));
}

static void test_secrets(void)
{
	char a[WEBHOOK_SECRET_LEN + 1], b[WEBHOOK_SECRET_LEN + 1];
	CHECK_INT(webhook_secret_new(a, sizeof a), 0);
	CHECK_INT(webhook_secret_new(b, sizeof b), 0);
	CHECK_INT(strlen(a), WEBHOOK_SECRET_LEN);
	CHECK(strncmp(a, "whsec_", 6) == 0);
	CHECK(strcmp(a, b) != 0);
	char sig[WEBHOOK_SIGNATURE_LEN + 1];
	CHECK_INT(webhook_sign(a, "msg_1", 1, "x", 1, sig, sizeof sig), 0);
	CHECK(webhook_verify(a, "msg_1", 1, "x", 1, sig));
	CHECK(!webhook_verify(b, "msg_1", 1, "x", 1, sig));
	/* malformed secrets are refused */
	CHECK_INT(webhook_sign("sec_abcd", "m", 1, "x", 1, sig, sizeof sig), -1);
	CHECK_INT(webhook_sign("whsec_", "m", 1, "x", 1, sig, sizeof sig), -1);
	CHECK_INT(webhook_sign("whsec_abc", "m", 1, "x", 1, sig, sizeof sig), -1);
}

static void test_sign_all(void)
{
	char a[WEBHOOK_SECRET_LEN + 1];
	CHECK_INT(webhook_secret_new(a, sizeof a), 0);
	const char *secrets[] = { SPEC_SECRET, a };
	char header[2 * (WEBHOOK_SIGNATURE_LEN + 1)];
	CHECK_INT(webhook_sign_all(secrets, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY),
				   header, sizeof header),
		  0);
	CHECK(strncmp(header, SPEC_SIG " v1,", strlen(SPEC_SIG) + 4) == 0);
	CHECK(webhook_verify(a, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), header));
	CHECK_INT(webhook_sign_all(secrets, 2, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY),
				   header, sizeof header - 1),
		  -1);
}

static int v4(const char *text)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	CHECK_INT(inet_pton(AF_INET, text, &in.sin_addr), 1);
	return webhook_address_private((struct sockaddr *)&in);
}

static int v6(const char *text)
{
	struct sockaddr_in6 in = { .sin6_family = AF_INET6 };
	CHECK_INT(inet_pton(AF_INET6, text, &in.sin6_addr), 1);
	return webhook_address_private((struct sockaddr *)&in);
}

static void test_private_addresses(void)
{
	static const char *const private4[] = { "127.0.0.1",	   "10.1.2.3",	  "172.16.0.1",
						"172.31.255.1",	   "192.168.1.1", "169.254.169.254",
						"0.0.0.0",	   "100.64.0.1",  "224.0.0.1",
						"255.255.255.255", "198.18.0.1" };
	static const char *const public4[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1",
					       "100.128.0.1" };
	for (size_t i = 0; i < sizeof private4 / sizeof private4[0]; i++)
		CHECK(v4(private4[i]));
	for (size_t i = 0; i < sizeof public4 / sizeof public4[0]; i++)
		CHECK(!v4(public4[i]));
	CHECK(v6("::1"));
	CHECK(v6("::"));
	CHECK(v6("fe80::1"));
	CHECK(v6("fd00::1"));
	CHECK(v6("ff02::1"));
	CHECK(v6("::ffff:127.0.0.1"));
	CHECK(v6("::ffff:10.0.0.1"));
	CHECK(!v6("2001:4860:4860::8888"));
	CHECK(!v6("::ffff:8.8.8.8"));
}

TEST_MAIN(TEST(test_spec_vector), TEST(test_verify_refuses_changes), TEST(test_secrets),
	  TEST(test_sign_all), TEST(test_private_addresses))
