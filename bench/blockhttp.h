/* A blocking HTTP/1.1 client for the threaded load tools: one keep-alive connection per thread. */
#ifndef ERRAND_BENCH_BLOCKHTTP_H
#define ERRAND_BENCH_BLOCKHTTP_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>

#define BH_BUF_BYTES 65536
#define BH_REQ_BYTES 65536

/* Where the requests go: an address and the Host header. */
typedef struct bh_target {
	struct addrinfo *addr;
	char hostport[300];
} bh_target;

/* One thread's connection (fd -1: none yet) and its buffers. */
typedef struct bh_conn {
	int fd;
	char req[BH_REQ_BYTES];
	char buf[BH_BUF_BYTES]; /* the last answer's body, NUL-terminated */
} bh_conn;

/* Resolves host:port. Returns 0, or -1 after saying why on stderr. */
int bh_target_resolve(bh_target *t, const char *host, const char *port);
void bh_target_free(bh_target *t);

/* Connects `c` (TCP_NODELAY). Returns 0 or -1. */
int bh_conn_open(bh_conn *c, const bh_target *t);

/*
 * POSTs `body` to `path` with "Authorization: Bearer `key`" and reads the
 * answer: its status, or -1 when none came. The body lands in c->buf. A
 * keep-alive connection the server closed meanwhile is opened again once.
 */
int bh_post(bh_conn *c, const bh_target *t, const char *key, const char *path, const char *body);

/* Monotonic nanoseconds. */
uint64_t bh_now_ns(void);

/* Reads up to `max` non-empty lines (API keys) of `file` into `keys` (strdup'd). Returns how many, or -1. */
int bh_read_keys(const char *file, char **keys, int max);

/* The first "id" string of a JSON answer into `id`. Returns 0 or -1. */
int bh_job_id(const char *body, char *id, size_t idlen);

#endif
