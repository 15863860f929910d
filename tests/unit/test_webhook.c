/* Unit tests of webhook.c: Standard Webhooks signatures, the private-address rule, the URL check. */
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

static void test_sign_all_each_secret(void)
{
	char a[WEBHOOK_SECRET_LEN + 1], b[WEBHOOK_SECRET_LEN + 1];
	CHECK_INT(webhook_secret_new(a, sizeof a), 0);
	CHECK_INT(webhook_secret_new(b, sizeof b), 0);
	const char *body = "{\"type\":\"agent.run.created\"}";
	size_t len = strlen(body);

	/* One secret: exactly webhook_sign()'s signature, in a buffer of exactly its size. */
	const char *one[] = { SPEC_SECRET };
	char header1[WEBHOOK_SIGNATURE_LEN + 1];
	CHECK_INT(webhook_sign_all(one, 1, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), header1,
				   sizeof header1),
		  0);
	CHECK_STR(header1, SPEC_SIG);

	/* Three: "sig sig sig" in the order given, each verifying under its own secret only. */
	const char *three[] = { a, SPEC_SECRET, b };
	char header[3 * (WEBHOOK_SIGNATURE_LEN + 1)];
	CHECK_INT(webhook_sign_all(three, 3, "msg_x", 1700000000, body, len, header, sizeof header),
		  0);
	CHECK_INT(strlen(header), 3 * WEBHOOK_SIGNATURE_LEN + 2);
	CHECK(header[WEBHOOK_SIGNATURE_LEN] == ' ');
	CHECK(header[2 * WEBHOOK_SIGNATURE_LEN + 1] == ' ');
	for (int i = 0; i < 3; i++) {
		char sig[WEBHOOK_SIGNATURE_LEN + 1];
		CHECK_INT(webhook_sign(three[i], "msg_x", 1700000000, body, len, sig, sizeof sig),
			  0);
		CHECK(strncmp(header + i * (WEBHOOK_SIGNATURE_LEN + 1), sig,
			      WEBHOOK_SIGNATURE_LEN) == 0);
		CHECK(webhook_verify(three[i], "msg_x", 1700000000, body, len, header));
		CHECK(webhook_verify(three[i], "msg_x", 1700000000, body, len, sig));
	}
	char c[WEBHOOK_SECRET_LEN + 1];
	CHECK_INT(webhook_secret_new(c, sizeof c), 0);
	CHECK(!webhook_verify(c, "msg_x", 1700000000, body, len, header));
	/* The same inputs sign the same (a retry at the same second sends the same header). */
	char again[sizeof header];
	CHECK_INT(webhook_sign_all(three, 3, "msg_x", 1700000000, body, len, again, sizeof again),
		  0);
	CHECK_STR(again, header);
	/* The timestamp is signed. */
	CHECK_INT(webhook_sign_all(three, 3, "msg_x", 1700000001, body, len, again, sizeof again),
		  0);
	CHECK(strcmp(again, header) != 0);

	/* Refused: no secret, a malformed one among good ones, a buffer too small. */
	CHECK_INT(webhook_sign_all(three, 0, "msg_x", 1, body, len, header, sizeof header), -1);
	const char *broken[] = { a, "whsec_!!!", b };
	CHECK_INT(webhook_sign_all(broken, 3, "msg_x", 1, body, len, header, sizeof header), -1);
	const char *unprefixed[] = { a, b + 6 };
	CHECK_INT(webhook_sign_all(unprefixed, 2, "msg_x", 1, body, len, header, sizeof header),
		  -1);
	CHECK_INT(webhook_sign_all(three, 3, "msg_x", 1, body, len, header, sizeof header - 1), -1);
	CHECK_INT(webhook_sign_all(one, 1, "msg_x", 1, body, len, header1, sizeof header1 - 1), -1);
}

static void test_private_ipv4_ranges(void)
{
	/* Each range at its first and last address, and its neighbours outside. */
	static const char *const private4[] = {
		"0.0.0.0",	   "0.255.255.255",   /* this network */
		"10.0.0.0",	   "10.255.255.255",  /* 10/8 */
		"127.0.0.0",	   "127.255.255.255", /* loopback */
		"100.64.0.0",	   "100.127.255.255", /* shared address space */
		"169.254.0.0",	   "169.254.255.255", /* link-local */
		"172.16.0.0",	   "172.31.255.255",  /* 172.16/12 */
		"192.168.0.0",	   "192.168.255.255", /* 192.168/16 */
		"192.0.0.0",	   "192.0.0.255",     /* IETF protocol assignments */
		"198.18.0.0",	   "198.19.255.255",  /* benchmarking */
		"224.0.0.0",	   "239.255.255.255", /* multicast */
		"240.0.0.0",	   "255.255.255.254", /* reserved */
		"255.255.255.255",
	};
	static const char *const public4[] = {
		"1.0.0.0",	   "9.255.255.255",  "11.0.0.0",       "126.255.255.255",
		"128.0.0.0",	   "100.63.255.255", "100.128.0.0",    "169.253.255.255",
		"169.255.0.0",	   "172.15.255.255", "172.32.0.0",     "192.167.255.255",
		"192.169.0.0",	   "192.0.1.0",	     "198.17.255.255", "198.20.0.0",
		"223.255.255.255", "8.8.8.8",	     "93.184.216.34",
	};
	for (size_t i = 0; i < sizeof private4 / sizeof private4[0]; i++) {
		if (!v4(private4[i])) {
			fprintf(stderr, "public: %s\n", private4[i]);
			exit(1);
		}
	}
	for (size_t i = 0; i < sizeof public4 / sizeof public4[0]; i++) {
		if (v4(public4[i])) {
			fprintf(stderr, "private: %s\n", public4[i]);
			exit(1);
		}
	}
}

static void test_private_ipv6_embedded(void)
{
	/* IPv4-mapped and IPv4-compatible: the IPv4 address decides. */
	CHECK(v6("::ffff:192.168.0.1"));
	CHECK(v6("::ffff:169.254.169.254"));
	CHECK(v6("::10.0.0.1"));
	CHECK(!v6("::8.8.8.8"));
	/* NAT64 64:ff9b::/96 carries an IPv4 address in its last 32 bits. */
	CHECK(v6("64:ff9b::a00:1"));
	CHECK(v6("64:ff9b::10.0.0.1"));
	CHECK(v6("64:ff9b::127.0.0.1"));
	CHECK(v6("64:ff9b::169.254.169.254"));
	CHECK(v6("64:ff9b::192.168.1.1"));
	CHECK(v6("64:ff9b::0.0.0.0"));
	CHECK(!v6("64:ff9b::8.8.8.8"));
	CHECK(!v6("64:ff9b::808:808"));
	/* 6to4 2002::/16 carries one in bits 16 to 47. */
	CHECK(v6("2002:0a00:0001::"));
	CHECK(v6("2002:a00:1::1"));
	CHECK(v6("2002:7f00:1::"));
	CHECK(v6("2002:c0a8:101::1"));
	CHECK(v6("2002:a9fe:a9fe::"));
	CHECK(v6("2002::"));
	CHECK(!v6("2002:808:808::"));
	CHECK(!v6("2002:808:808:ffff:ffff:ffff:ffff:ffff"));
	/* Only those prefixes: a neighbour is an ordinary address. */
	CHECK(!v6("2003:a00:1::"));
	CHECK(!v6("64:ff9a::a00:1"));
	/* The other IPv6 ranges. */
	CHECK(v6("fe80::"));
	CHECK(v6("febf:ffff::1"));
	CHECK(v6("fec0::1"));
	CHECK(v6("fc00::"));
	CHECK(v6("fdff:ffff::1"));
	CHECK(v6("ff0e::1"));
	CHECK(!v6("fbff:ffff::1"));
	CHECK(!v6("2606:4700:4700::1111"));
	/* Neither IPv4 nor IPv6: never a target. */
	struct sockaddr other = { .sa_family = AF_UNIX };
	CHECK(webhook_address_private(&other));
}

static void test_url_check(void)
{
	static const struct {
		const char *url;
		int verdict;
	} cases[] = {
		/* Schemes and hosts */
		{ "https://agent.example/hook", WEBHOOK_URL_OK },
		{ "http://agent.example", WEBHOOK_URL_OK },
		{ "http://agent.example:8080/a/b?c=d#e", WEBHOOK_URL_OK },
		{ "https://user:pw@agent.example/", WEBHOOK_URL_OK },
		{ "ftp://agent.example/hook", WEBHOOK_URL_BAD },
		{ "file:///etc/passwd", WEBHOOK_URL_BAD },
		{ "gopher://agent.example/", WEBHOOK_URL_BAD },
		{ "//agent.example/hook", WEBHOOK_URL_BAD },
		{ "agent.example/hook", WEBHOOK_URL_BAD },
		{ "HTTPS://agent.example/hook", WEBHOOK_URL_BAD },
		{ "http://", WEBHOOK_URL_BAD },
		{ "https://", WEBHOOK_URL_BAD },
		{ "http:/agent.example", WEBHOOK_URL_BAD },
		{ "http://agent example/", WEBHOOK_URL_BAD },
		{ "http://[::1/", WEBHOOK_URL_BAD },
		{ "http://[not-an-address]/", WEBHOOK_URL_BAD },
		{ "", WEBHOOK_URL_BAD },
		/* IPv4 literals, in every private range */
		{ "http://127.0.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://127.0.0.1:9000/hook", WEBHOOK_URL_PRIVATE },
		{ "http://0.0.0.0/", WEBHOOK_URL_PRIVATE },
		{ "http://10.1.2.3/", WEBHOOK_URL_PRIVATE },
		{ "http://100.64.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://169.254.169.254/latest/meta-data/", WEBHOOK_URL_PRIVATE },
		{ "http://172.16.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://172.31.255.255/", WEBHOOK_URL_PRIVATE },
		{ "http://192.168.1.1/", WEBHOOK_URL_PRIVATE },
		{ "http://192.0.0.8/", WEBHOOK_URL_PRIVATE },
		{ "http://198.18.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://224.0.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://240.0.0.1/", WEBHOOK_URL_PRIVATE },
		{ "http://255.255.255.255/", WEBHOOK_URL_PRIVATE },
		{ "https://user:pw@10.0.0.1/", WEBHOOK_URL_PRIVATE },
		/* IPv4 literals in the short and numeric forms URL parsers accept */
		{ "http://127.1/", WEBHOOK_URL_PRIVATE },
		{ "http://2130706433/", WEBHOOK_URL_PRIVATE },
		{ "http://0x7f000001/", WEBHOOK_URL_PRIVATE },
		{ "http://0177.0.0.1/", WEBHOOK_URL_PRIVATE },
		/* IPv6 literals in brackets */
		{ "http://[::1]/", WEBHOOK_URL_PRIVATE },
		{ "https://[::1]:8443/hook", WEBHOOK_URL_PRIVATE },
		{ "http://[::]/", WEBHOOK_URL_PRIVATE },
		{ "http://[fe80::]/", WEBHOOK_URL_PRIVATE },
		{ "http://[fe80::1%25eth0]/", WEBHOOK_URL_PRIVATE },
		{ "http://[fc00::]/", WEBHOOK_URL_PRIVATE },
		{ "http://[fd12:3456::1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[ff02::1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[::ffff:10.0.0.1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[::ffff:a00:1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[::ffff:127.0.0.1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[64:ff9b::a00:1]/", WEBHOOK_URL_PRIVATE },
		{ "http://[64:ff9b::169.254.169.254]/", WEBHOOK_URL_PRIVATE },
		{ "http://[2002:0a00:0001::]/", WEBHOOK_URL_PRIVATE },
		{ "http://[2002:7f00:1::1]:8080/", WEBHOOK_URL_PRIVATE },
		/* localhost by name */
		{ "http://localhost/", WEBHOOK_URL_PRIVATE },
		{ "http://localhost:8080/hook", WEBHOOK_URL_PRIVATE },
		{ "http://LocalHost/", WEBHOOK_URL_PRIVATE },
		{ "http://foo.localhost/", WEBHOOK_URL_PRIVATE },
		{ "http://a.b.LOCALHOST:1/", WEBHOOK_URL_PRIVATE },
		/* Public names and addresses; names that only look local */
		{ "https://8.8.8.8/", WEBHOOK_URL_OK },
		{ "http://93.184.216.34:8080/hook", WEBHOOK_URL_OK },
		{ "http://172.32.0.1/", WEBHOOK_URL_OK },
		{ "http://[2001:4860:4860::8888]/", WEBHOOK_URL_OK },
		{ "http://[::ffff:8.8.8.8]/", WEBHOOK_URL_OK },
		{ "http://[64:ff9b::808:808]/", WEBHOOK_URL_OK },
		{ "http://[2002:808:808::]/", WEBHOOK_URL_OK },
		{ "http://localhost.example.com/", WEBHOOK_URL_OK },
		{ "http://mylocalhost/", WEBHOOK_URL_OK },
		{ "http://10.0.0.1.nip.io/", WEBHOOK_URL_OK },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = webhook_url_check(cases[i].url);
		if (got != cases[i].verdict) {
			fprintf(stderr, "%s: %d, expected %d\n", cases[i].url, got,
				cases[i].verdict);
			exit(1);
		}
	}
	CHECK_INT(webhook_url_check(NULL), WEBHOOK_URL_BAD);
}

/*
 * Host spellings that name a loopback or internal target just as the
 * accepted spellings above do.
 */
static void test_url_check_equivalent_spellings(void)
{
	/* The fully qualified "localhost." resolves to loopback like "localhost". */
	CHECK_INT(webhook_url_check("http://localhost./"), WEBHOOK_URL_PRIVATE);
	CHECK_INT(webhook_url_check("http://foo.localhost./hook"), WEBHOOK_URL_PRIVATE);
}

static void test_private_ipv6_local_nat64(void)
{
	/*
	 * 64:ff9b:1::/48 is the local-use NAT64 prefix (RFC 8215): like
	 * 64:ff9b::/96 it reaches IPv4 through a translator, here a local one,
	 * so whatever it carries it is not a public address.
	 */
	CHECK(v6("64:ff9b:1::a00:1"));
	CHECK(v6("64:ff9b:1:ffff::1"));
	CHECK_INT(webhook_url_check("http://[64:ff9b:1::a00:1]/"), WEBHOOK_URL_PRIVATE);
}

TEST_MAIN(TEST(test_spec_vector), TEST(test_verify_refuses_changes), TEST(test_secrets),
	  TEST(test_sign_all), TEST(test_private_addresses), TEST(test_sign_all_each_secret),
	  TEST(test_private_ipv4_ranges), TEST(test_private_ipv6_embedded), TEST(test_url_check),
	  TEST(test_url_check_equivalent_spellings), TEST(test_private_ipv6_local_nat64))
