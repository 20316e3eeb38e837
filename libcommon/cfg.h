#ifndef LC_CFG_H
#define LC_CFG_H
/*
 * Config engine: one YAML file into one typed C struct, driven by a key
 * table in the style of pgbouncer's CF_ABS and redis' createIntConfig.
 *
 * A table lists every key a file may hold as a dotted path from the
 * file's root ("system.monitoring.system_status_interval"), with its
 * type, the offset of its field, its default (as YAML text), bounds,
 * flags and an optional validator. Mappings in the file that are a
 * prefix of some key ("system.monitoring") are sections; anything else
 * is an unknown key and an error, as are duplicate keys, wrong node
 * kinds, YAML syntax errors and values that do not parse. Errors read
 *   config/system.yml:12: system.monitoring.system_status_interval:
 *   expected a positive integer, got "abc"
 * (one line; the path as given, 1-based line).
 *
 * Every scalar value, and every default, may use ${NAME} (error when
 * NAME is unset) and ${NAME:-text} (text when NAME is unset or empty);
 * "$$" is a literal "$". Values of SECRET keys are registered with
 * lc_log_redact() after a successful load and shown as "[redacted]" by
 * lc_cfg_dump().
 *
 * A loaded struct owns its strings and lists; lc_cfg_release() frees
 * them. Loading always fills a NEW struct, so a daemon can load, check
 * and diff a new config while the current one stays in use, then swap.
 * Not thread-safe: call from the loop thread (start-up or reload).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum lc_cfg_type {
	LC_CFG_BOOL,    /* bool: true/false, yes/no, on/off */
	LC_CFG_INT,     /* int64_t within imin..imax */
	LC_CFG_DOUBLE,  /* double within dmin..dmax */
	LC_CFG_STRING,  /* char *, owned, never NULL once loaded */
	LC_CFG_ENUM,    /* int: index of the value in values[] */
	LC_CFG_STRLIST, /* struct lc_cfg_strlist */
	LC_CFG_TIME,    /* int: minutes after midnight of "HH:MM" */
	LC_CFG_LIST,    /* struct lc_cfg_list of objects described by sub */
};

enum lc_cfg_flags {
	LC_CFG_RELOADABLE = 1 << 0,   /* SIGHUP applies it */
	LC_CFG_RESTART_ONLY = 1 << 1, /* a change needs a restart */
	LC_CFG_SECRET = 1 << 2,       /* redacted in logs and dumps */
	LC_CFG_REQUIRED = 1 << 3,     /* must be given (list items) */
	LC_CFG_NONEMPTY = 1 << 4,     /* string or list must not be empty */
	LC_CFG_UNIQUE = 1 << 5,       /* string list: no repeats */
	/* A URL whose user:password@ part alone is secret: only that part
	 * is registered for redaction and hidden by the dump. */
	LC_CFG_SECRET_USERINFO = 1 << 6,
};

struct lc_cfg_strlist {
	char **v; /* owned strings, owned array */
	size_t n;
};

struct lc_cfg_list {
	void *items; /* owned array of n objects of the sub-table's size */
	size_t n;
};

/* Opaque per-load state handed to validators. */
struct lc_cfg_ctx;

/*
 * A validator: path is the key's dotted path as shown in errors
 * ("notifications.channels[2].url"), p points to the parsed field (for a
 * key) or the whole object (for a table's check). Return 0, or
 * lc_cfg_fail(ctx, path, ...).
 */
typedef int (*lc_cfg_check_fn)(struct lc_cfg_ctx *ctx, const char *path,
			       const void *p);

struct lc_cfg_table;

struct lc_cfg_key {
	const char *path;               /* dotted, from the table's root */
	enum lc_cfg_type type;
	size_t offset;                  /* offsetof() the field */
	const char *def;                /* default as YAML text; NULL: 0/"" */
	int64_t imin, imax;             /* LC_CFG_INT bounds */
	double dmin, dmax;              /* LC_CFG_DOUBLE bounds */
	const char *const *values;      /* ENUM/STRLIST choices, NULL-ended */
	const struct lc_cfg_table *sub; /* LC_CFG_LIST: one item's table */
	unsigned flags;                 /* enum lc_cfg_flags */
	lc_cfg_check_fn validate;       /* may be NULL; runs after parsing */
};

struct lc_cfg_table {
	const char *name;             /* "system", for messages */
	const struct lc_cfg_key *keys;
	size_t nkeys;
	size_t size;                  /* sizeof the struct it fills */
	lc_cfg_check_fn check;        /* whole-object check; may be NULL */
};

/* Largest config file read (a bigger one is an error). */
#define LC_CFG_FILE_MAX (1024 * 1024)

/*
 * Fill obj (t->size bytes, caller's storage; its old content is
 * overwritten, not freed) from the YAML file at path: defaults first,
 * then the file's values, then validators and t->check. user is handed
 * to validators through lc_cfg_user() (borrowed; may be NULL).
 * A missing file (ENOENT) gives the defaults and logs warn
 * "config.missing" with the file name.
 * Returns 0 on success (caller releases obj with lc_cfg_release()) or
 * -1 with a one-line message in err (errlen bytes, always
 * NUL-terminated) and obj left zeroed, owning nothing.
 */
int lc_cfg_load_file(const struct lc_cfg_table *t, const char *path,
		     void *obj, const void *user, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * As lc_cfg_load_file but from YAML text in memory (borrowed); name
 * stands for the file name in messages (borrowed). yaml NULL: the
 * defaults alone, without a warning.
 */
int lc_cfg_load_string(const struct lc_cfg_table *t, const char *name,
		       const char *yaml, void *obj, const void *user,
		       char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free everything obj owns and zero it. obj NULL or zeroed: nothing. */
void lc_cfg_release(const struct lc_cfg_table *t, void *obj);

/*
 * Called for each key whose value differs between two loads; path is
 * borrowed for the call, flags are the key's enum lc_cfg_flags.
 */
typedef void (*lc_cfg_diff_fn)(const char *path, unsigned flags,
			       void *arg);

/*
 * Compare two loaded objects of table t (both borrowed). For each key
 * that differs and whose flags intersect mask (0: every key), call fn
 * (may be NULL). A list of objects is compared as a whole and reported
 * under its own path. Returns the number of such keys: pass
 * LC_CFG_RESTART_ONLY to learn what needs a restart.
 */
int lc_cfg_diff(const struct lc_cfg_table *t, const void *old_obj,
		const void *new_obj, unsigned mask, lc_cfg_diff_fn fn,
		void *arg);

/*
 * Add obj's values (borrowed) to the cJSON object root as nested
 * objects following the dotted paths; times as "HH:MM", enums as their
 * names, secrets as "[redacted]" (an empty secret as ""). root is
 * borrowed and keeps what was added. Returns 0, or -1 when out of
 * memory (root may then hold part of the dump).
 */
int lc_cfg_dump(const struct lc_cfg_table *t, const void *obj,
		struct cJSON *root) __attribute__((warn_unused_result));

/*
 * For validators: set the load's error to "FILE:LINE: PATH: message",
 * LINE being where path appeared in the file (left out when the value
 * is a default). The first error of a load wins. Always returns -1.
 */
int lc_cfg_fail(struct lc_cfg_ctx *ctx, const char *path, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));

/* For validators: the user pointer given to the load (borrowed). */
const void *lc_cfg_user(const struct lc_cfg_ctx *ctx);

/* "HH:MM" of minutes after midnight; out holds 6 bytes. Returns out. */
char *lc_cfg_time_str(int minutes, char out[6]);

#endif
