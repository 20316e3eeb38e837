#ifndef LC_MIGRATE_H
#define LC_MIGRATE_H
/*
 * Database migrations: versioned SQL files (libcommon/schema/NNNN_name.sql)
 * compiled into the library by scripts/embed-sql.sh, applied in order,
 * each once, each in its own transaction, and recorded in the table
 * schema_migrations(version, name, applied_at).
 */
struct lc_migration {
	int version;      /* NNNN of the file name */
	const char *name; /* file name without .sql */
	const char *sql;  /* the file's text */
};

/* The product schema (generated). */
extern const struct lc_migration lc_schema_migrations[];
extern const int lc_schema_migrations_count;

#endif
