/*
 * The official JSON-Schema-Test-Suite (draft 2020-12) against jsonschema.c:
 * every file under tests/jsonschema/draft2020-12, every case, except those
 * listed in tests/jsonschema/skip.txt with their reason. Prints the pass,
 * fail and skip counts per file; fails when a case that is not skipped
 * fails, or when a skip entry matches nothing (a stale entry). Each case
 * is validated twice, as a jansson tree and as JSON text (the text path,
 * jsondoc's parser): both must give the same result and message.
 *
 * Usage: test_jsonschema_suite [SUITE_DIR] (default: tests/jsonschema next
 * to this source, or $JSONSCHEMA_SUITE_DIR).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"

#define SKIP_FILE "skip.txt"
#define TESTS_DIR "draft2020-12"
#define SKIP_REASON_MARK "  # "
#define KEY_SEPARATOR " / "
#define MAX_FILES 256
#define MAX_SKIPS 512
#define PATH_MAX_LEN 4096

/* One line of skip.txt: "file[ / group[ / case]]  # reason", or "dir/  # reason". */
/* snprintf that refuses to truncate: returns -1 when `out` is too small. */
#define FORMAT(out, ...) (snprintf((out), sizeof(out), __VA_ARGS__) >= (int)sizeof(out) ? -1 : 0)

typedef struct skip_entry {
	char *key;
	int used;
} skip_entry;

static skip_entry skips[MAX_SKIPS];
static int nskips;

/* The suite directory: argv, environment, or tests/jsonschema beside this file. */
static void suite_dir(int argc, char **argv, char *out, size_t len)
{
	const char *env = getenv("JSONSCHEMA_SUITE_DIR");
	if (argc > 1) {
		snprintf(out, len, "%s", argv[1]);
	} else if (env && *env) {
		snprintf(out, len, "%s", env);
	} else {
		snprintf(out, len, "%s", __FILE__);
		char *slash = strrchr(out, '/');
		if (slash)
			*slash = '\0'; /* tests/unit */
		slash = strrchr(out, '/');
		if (slash)
			*slash = '\0'; /* tests */
		else
			snprintf(out, len, "..");
		size_t n = strlen(out);
		snprintf(out + n, len - n, "/jsonschema");
	}
}

/* Reads skip.txt; returns -1 (with a message) on a malformed line. */
static int load_skips(const char *dir)
{
	char path[PATH_MAX_LEN], line[2048];
	FILE *f = FORMAT(path, "%s/%s", dir, SKIP_FILE) < 0 ? NULL : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char *mark = strstr(line, SKIP_REASON_MARK);
		if (!mark || mark[strlen(SKIP_REASON_MARK)] == '\0') {
			fprintf(stderr, "%s:%d: a skip needs a reason after \"  # \"\n", path,
				lineno);
			rc = -1;
			continue;
		}
		*mark = '\0';
		if (nskips == MAX_SKIPS) {
			fprintf(stderr, "%s: more than %d entries\n", path, MAX_SKIPS);
			rc = -1;
			break;
		}
		skips[nskips].key = strdup(line);
		skips[nskips].used = 0;
		nskips++;
	}
	fclose(f);
	return rc;
}

/* Nonzero when `key` ("file / group / case") is covered by a skip entry. */
static int skipped(const char *key)
{
	int hit = 0;
	for (int i = 0; i < nskips; i++) {
		const char *e = skips[i].key;
		size_t n = strlen(e);
		if (strncmp(key, e, n) != 0)
			continue;
		if (key[n] == '\0' || strncmp(key + n, KEY_SEPARATOR, strlen(KEY_SEPARATOR)) == 0 ||
		    (n && e[n - 1] == '/')) {
			skips[i].used = 1;
			hit = 1;
		}
	}
	return hit;
}

/*
 * Validates `data` as JSON text too: 0 when the result and the message are
 * those of the jansson tree (`r`, `err`). Text with \u0000 is not JSON to
 * the parser (nor to jansson without JSON_ALLOW_NUL): refused as such.
 */
static int text_agrees(const jsonschema *s, const json_t *data, int r, const char *err)
{
	char terr[512];
	char *text = json_dumps(data, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text)
		return -1;
	int rt = jsonschema_validate_text(s, text, strlen(text), terr, sizeof terr);
	int ok = strstr(text, "\\u0000") ? rt == JSONSCHEMA_NOT_JSON
					 : rt == r && strcmp(err, terr) == 0;
	if (!ok)
		printf("  text %s: got %d (%s), the tree %d (%s)\n", text, rt, terr, r, err);
	free(text);
	return ok ? 0 : -1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the .json files under `base`/`rel` (relative names), recursively. */
static void collect(const char *base, const char *rel, char **files, int *n)
{
	char path[PATH_MAX_LEN];
	DIR *d = FORMAT(path, "%s%s%s", base, *rel ? "/" : "", rel) < 0 ? NULL : opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && *n < MAX_FILES) {
		if (e->d_name[0] == '.')
			continue;
		char sub[PATH_MAX_LEN];
		if (FORMAT(sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0)
			continue;
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
			files[(*n)++] = strdup(sub);
		else
			collect(base, sub, files, n);
	}
	closedir(d);
}

typedef struct counts {
	int pass, fail, skip;
} counts;

/* Runs one test file; adds to `c`. */
static void run_file(const char *base, const char *name, counts *c)
{
	char path[PATH_MAX_LEN], err[512], key[2048];
	json_error_t jerr;
	json_t *groups = NULL;
	if (FORMAT(path, "%s/%s", base, name) == 0)
		groups = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	else
		snprintf(jerr.text, sizeof jerr.text, "path too long");
	if (!json_is_array(groups)) {
		if (skipped(name)) {
			printf("skip %s: cannot load: %s\n", name, jerr.text);
			c->skip++;
		} else {
			printf("FAIL %s: cannot load: %s\n", name, jerr.text);
			c->fail++;
		}
		json_decref(groups);
		return;
	}
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *group = json_array_get(groups, g);
		const char *gdesc = json_string_value(json_object_get(group, "description"));
		const json_t *tests = json_object_get(group, "tests");
		jsonschema *s = NULL;
		int compiled = 0;
		char cerr[512] = "";
		for (size_t t = 0; t < json_array_size(tests); t++) {
			const json_t *test = json_array_get(tests, t);
			const char *tdesc = json_string_value(json_object_get(test, "description"));
			int valid = json_is_true(json_object_get(test, "valid"));
			if (FORMAT(key, "%s" KEY_SEPARATOR "%s" KEY_SEPARATOR "%s", name,
				   gdesc ? gdesc : "", tdesc ? tdesc : "") < 0) {
				printf("FAIL %s: description too long\n", name);
				c->fail++;
				continue;
			}
			if (skipped(key)) {
				c->skip++;
				continue;
			}
			if (!compiled) {
				s = jsonschema_compile(json_object_get(group, "schema"), cerr,
						       sizeof cerr);
				compiled = 1;
			}
			if (!s) {
				printf("FAIL %s: schema refused: %s\n", key, cerr);
				c->fail++;
				continue;
			}
			const json_t *data = json_object_get(test, "data");
			int r = jsonschema_validate(s, data, err, sizeof err);
			if (text_agrees(s, data, r, err) < 0) {
				printf("FAIL %s: the text path differs\n", key);
				c->fail++;
			} else if (r == (valid ? 0 : 1)) {
				c->pass++;
			} else {
				printf("FAIL %s: expected %s, got %d (%s)\n", key,
				       valid ? "valid" : "invalid", r, err);
				c->fail++;
			}
		}
		jsonschema_free(s);
	}
	json_decref(groups);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX_LEN], tests[PATH_MAX_LEN];
	char *files[MAX_FILES];
	int nfiles = 0, stale = 0;
	counts total = { 0, 0, 0 };

	suite_dir(argc, argv, dir, sizeof dir);
	if (load_skips(dir) < 0)
		return 1;
	if (FORMAT(tests, "%s/%s", dir, TESTS_DIR) == 0)
		collect(tests, "", files, &nfiles);
	if (nfiles == 0) {
		fprintf(stderr, "no test files under %s\n", tests);
		return 1;
	}
	qsort(files, (size_t)nfiles, sizeof files[0], cmp_names);
	for (int i = 0; i < nfiles; i++) {
		counts c = { 0, 0, 0 };
		run_file(tests, files[i], &c);
		printf("%-45s %4d passed, %3d failed, %4d skipped\n", files[i], c.pass, c.fail,
		       c.skip);
		total.pass += c.pass;
		total.fail += c.fail;
		total.skip += c.skip;
		free(files[i]);
	}
	for (int i = 0; i < nskips; i++) {
		if (!skips[i].used) {
			printf("FAIL stale skip entry (matches no case): %s\n", skips[i].key);
			stale++;
		}
		free(skips[i].key);
	}
	printf("total: %d passed, %d failed, %d skipped, %d stale skip entries\n", total.pass,
	       total.fail, total.skip, stale);
	return total.fail || stale ? 1 : 0;
}
