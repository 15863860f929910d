/*
 * Runs a fuzz target without libFuzzer: every file of the corpus folders
 * given as arguments, then a fixed number of pseudo-random mutations of
 * them. Used by ctest in every build; ERRAND_FUZZ=ON builds the same
 * targets with libFuzzer for long runs.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS 20000
#define REPLAY_MAX_INPUT 4096

/* Reads a whole file into a new buffer; NULL on failure. */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	*len = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	uint8_t *seeds[256];
	size_t lens[256];
	int nseeds = 0;
	for (int a = 1; a < argc; a++) {
		DIR *d = opendir(argv[a]);
		if (!d) {
			fprintf(stderr, "replay: cannot open %s\n", argv[a]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d)) && nseeds < 256) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
			seeds[nseeds] = read_file(path, &lens[nseeds]);
			if (seeds[nseeds]) {
				LLVMFuzzerTestOneInput(seeds[nseeds], lens[nseeds]);
				nseeds++;
			}
		}
		closedir(d);
	}
	if (nseeds == 0) {
		fprintf(stderr, "replay: no corpus\n");
		return 1;
	}
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[REPLAY_MAX_INPUT];
	for (int i = 0; i < MUTATIONS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int s = (int)(x % (uint64_t)nseeds);
		size_t len = lens[s];
		memcpy(buf, seeds[s], len);
		int edits = 1 + (int)((x >> 8) % 4);
		for (int k = 0; k < edits; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t pos = len ? (size_t)(x % len) : 0;
			switch ((x >> 32) % 4) {
			case 0: /* flip a byte */
				if (len)
					buf[pos] = (uint8_t)(x >> 40);
				break;
			case 1: /* cut the tail */
				len = pos;
				break;
			case 2: /* duplicate a span */
				if (len && len * 2 < REPLAY_MAX_INPUT) {
					memcpy(buf + len, buf, len);
					len *= 2;
				}
				break;
			default: /* insert a structural byte */
				if (len < REPLAY_MAX_INPUT - 1) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = (uint8_t) "{}[]\",:\\0 -.eZT+"[(x >> 44) % 17];
					len++;
				}
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	for (int i = 0; i < nseeds; i++)
		free(seeds[i]);
	printf("%d seeds, %d mutations: no failure\n", nseeds, MUTATIONS);
	return 0;
}
