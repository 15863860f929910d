/* Schema migrations: versioned SQL compiled into every binary, applied under an advisory lock. */
#ifndef ERRAND_MIGRATE_H
#define ERRAND_MIGRATE_H

#include <stddef.h>

typedef struct migration {
	int version;
	const char *name; /* file name, "0001_principals.sql" */
	const char *sql;
} migration;

/* The migrations of shared/migrations/, in version order (generated at build time). */
extern const migration MIGRATIONS[];
extern const size_t MIGRATIONS_N;

/* The schema version this build needs: the highest migration version. */
int migrate_latest_version(void);

/* One row, one column: the database's schema version (0 for a fresh database). */
#define MIGRATE_VERSION_SQL \
	"SELECT coalesce((SELECT max(version) FROM errand_schema_migrations), 0)"

/*
 * Connects to `conninfo` (blocking: for errandctl and tests), takes the
 * advisory lock MIGRATE_LOCK_KEY so that concurrent callers wait for one
 * another, and applies every migration newer than the database's version,
 * each in its own transaction that also records it. `progress` (may be
 * NULL) is told of each applied migration. Returns the number applied, or
 * -1 with a message in `err`.
 */
int migrate_apply(const char *conninfo, void (*progress)(const migration *m), char *err,
		  size_t errlen) __attribute__((warn_unused_result));

/*
 * The schema version of the database at `conninfo` (blocking), 0 for a
 * fresh database, or -1 with a message in `err`.
 */
int migrate_current_version(const char *conninfo, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The advisory-lock key (the bytes "errand.m" as an integer). */
#define MIGRATE_LOCK_KEY 7310302560392865901LL

#endif
