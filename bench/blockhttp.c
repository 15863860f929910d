/* A blocking HTTP/1.1 client for the threaded load tools: one keep-alive connection per thread. */
#include "blockhttp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int bh_target_resolve(bh_target *t, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	snprintf(t->hostport, sizeof t->hostport, "%s:%s", host, port);
	int rc = getaddrinfo(host, port, &hints, &t->addr);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", t->hostport, gai_strerror(rc));
		return -1;
	}
	return 0;
}

void bh_target_free(bh_target *t)
{
	if (t->addr)
		freeaddrinfo(t->addr);
	t->addr = NULL;
}

int bh_conn_open(bh_conn *c, const bh_target *t)
{
	c->fd = socket(t->addr->ai_family, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, t->addr->ai_addr, t->addr->ai_addrlen) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

int bh_post(bh_conn *c, const bh_target *t, const char *key, const char *path, const char *body)
{
	int n = snprintf(c->req, sizeof c->req,
			 "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 path, t->hostport, key, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof c->req)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t len = 0;
		if (c->fd < 0 && bh_conn_open(c, t) != 0)
			return -1;
		if (send(c->fd, c->req, (size_t)n, MSG_NOSIGNAL) != n)
			goto broken;
		char *head_end = NULL;
		while (!head_end) {
			if (len == BH_BUF_BYTES - 1)
				goto broken;
			ssize_t got = recv(c->fd, c->buf + len, BH_BUF_BYTES - 1 - len, 0);
			if (got <= 0)
				goto broken;
			len += (size_t)got;
			c->buf[len] = '\0';
			head_end = strstr(c->buf, "\r\n\r\n");
		}
		int status = 0;
		if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
			goto broken;
		long clen = 0;
		for (char *h = strstr(c->buf, "\r\n"); h && h < head_end; h = strstr(h + 2, "\r\n"))
			if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
				clen = strtol(h + 17, NULL, 10);
		size_t head = (size_t)(head_end + 4 - c->buf);
		if (head + (size_t)clen >= BH_BUF_BYTES)
			goto broken;
		while (len < head + (size_t)clen) {
			ssize_t got = recv(c->fd, c->buf + len, head + (size_t)clen - len, 0);
			if (got <= 0)
				goto broken;
			len += (size_t)got;
		}
		memmove(c->buf, c->buf + head, (size_t)clen);
		c->buf[clen] = '\0';
		return status;
broken:
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		if (attempt == 0 && len == 0)
			continue; /* a keep-alive connection closed under us: once more */
		return -1;
	}
	return -1;
}

uint64_t bh_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int bh_read_keys(const char *file, char **keys, int max)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return -1;
	}
	char line[512];
	int n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			keys[n++] = strdup(line);
	}
	fclose(f);
	return n;
}

int bh_job_id(const char *body, char *id, size_t idlen)
{
	const char *p = strstr(body, "\"id\":");
	if (!p)
		return -1;
	p += 5;
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return -1;
	size_t n = strcspn(p, "\"");
	if (n == 0 || n >= idlen)
		return -1;
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}
