/* A tiny unit-test framework: each test runs in its own forked child. */
#ifndef ERRAND_TESTLIB_H
#define ERRAND_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*test_fn)(void);

typedef struct test_case {
	const char *name;
	test_fn fn;
} test_case;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                                           \
	do {                                                                                      \
		const char *check_a_ = (a), *check_b_ = (b);                                      \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                  \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s (\"%s\" vs \"%s\")\n", \
				__FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",       \
				check_b_ ? check_b_ : "(null)");                                  \
			exit(1);                                                                  \
		}                                                                                 \
	} while (0)

#define CHECK_INT(a, b)                                                                       \
	do {                                                                                  \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);               \
		if (check_a_ != check_b_) {                                                   \
			fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s (%lld vs %lld)\n", \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);              \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

/*
 * Runs every test in a child process; prints one line per test and a
 * closing "N passed, N failed" line. Returns the exit status for main().
 */
static inline int test_run_all(const test_case *tests, size_t n)
{
	size_t passed = 0, failed = 0;
	const char *only = getenv("TEST_ONLY");
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0) {
			tests[i].fn();
			exit(0);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
		if (ok)
			passed++;
		else
			failed++;
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                         \
	int main(void)                                                         \
	{                                                                      \
		static const test_case tests_[] = { __VA_ARGS__ };             \
		return test_run_all(tests_, sizeof tests_ / sizeof tests_[0]); \
	}

#define TEST(fn)        \
	{               \
#fn, fn \
	}

#endif
