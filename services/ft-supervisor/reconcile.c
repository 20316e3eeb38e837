/*
 * Start-up reconcile: after its own restart (even a kill -9) the
 * supervisor must neither orphan nor duplicate a bot.
 *
 *  1. An upgrade left 'running' by a dead supervisor is marked failed;
 *     the command in force is the newest succeeded upgrade's, else
 *     system.yml's.
 *  2. Every live strategy is loaded into memory.
 *  3. Live bots are found in the process table, not only in the
 *     database: a bot leads its own session and its command line holds
 *     --config <config_directory>/strategy_<id>.json. So a bot spawned
 *     just before a crash, whose pid never reached the database, is
 *     found too. When the row's pid is among them and its start time
 *     (/proc/<pid>/stat field 22) and boot id match, that one is
 *     preferred; any other process for the same id is a duplicate and
 *     is killed, as is one for a deleted or unknown strategy.
 *  4. A found bot is adopted only if the port its config names is
 *     really its own: the LISTEN socket that takes connections to
 *     127.0.0.1:port must be held by the process or its process group
 *     (/proc/net/tcp{,6} inode against the socket:[inode] links of
 *     /proc/<pid>/fd, proc.h). Otherwise /ping would be answered by
 *     whoever holds the port, and the route would lead there; such a
 *     process (or one that does not listen yet) is killed and, if
 *     wanted, started afresh on a port of its own. An adopted bot gets
 *     a pidfd (Linux >= 5.3) since it is not our child, its port is
 *     taken in the pool, and it becomes running only when the port
 *     answers /ping (else it is killed and, if wanted, started again).
 *  5. Stale files (configs of bots not running, temp files) go; the
 *     strategies that should run (desired_state running, or auto_start)
 *     are started.
 * It runs before the loop starts, on a blocking connection of its own (as
 * the migrations do), so that /readyz answering means reconciled. Only if
 * that fails does it retry on the loop with the pool; until then every
 * supervisor.* method but config.* answers unavailable.
 */
#include "services/ft-supervisor/sup.h"

#include "libcommon/cfg_schema.h"
#include "libcommon/clock.h"
#include "libcommon/db.h"
#include "libcommon/log.h"
#include "libcommon/svc.h"
#include "services/ft-supervisor/proc.h"

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MS 1000
#define WAIT_DB_MS 100

struct found {
	int id;
	pid_t pid;
	bool used;
};

struct scan {
	struct found *v;
	size_t n, cap;
	struct proc_listeners ls; /* LISTEN sockets, read once */
	bool have_ls;
};

static void step(evutil_socket_t fd, short what, void *arg);

static void again(struct sup *s, int64_t ms)
{
	struct timeval tv;
	lc_clock_tv(&tv, ms);
	if (!s->ev_boot)
		s->ev_boot = evtimer_new(s->base, step, s);
	evtimer_add(s->ev_boot, &tv);
}

static void on_found(int id, pid_t pid, void *arg)
{
	struct scan *sc = arg;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct found *v = realloc(sc->v, cap * sizeof(*v));
		if (!v)
			return;
		sc->v = v;
		sc->cap = cap;
	}
	sc->v[sc->n++] = (struct found){ .id = id, .pid = pid };
}

/* api_server.listen_port of the bot's config file, or 0. */
static int config_port(struct sup *s, int id)
{
	char path[4096], buf[65536];
	if (sup_path(s, id, "config", path, sizeof(path)) != 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	cJSON *c = cJSON_Parse(buf);
	const cJSON *api = cJSON_GetObjectItemCaseSensitive(c, "api_server");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(api, "listen_port");
	int port = cJSON_IsNumber(p) ? (int)p->valuedouble : 0;
	cJSON_Delete(c);
	return port;
}

/* An adopted bot exited. What is left of its group goes too, as for a
 * child (sup.c, on_sigchld). Its zombie is not ours to keep, but while
 * a group member lives the group id cannot be reused; once none does,
 * only a new group given the recycled pid since the exit could be hit,
 * and pids are handed out in turn: the whole range would have to go
 * round in between. */
static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct bot *b = arg;
	(void)proc_kill_group(b->pid, SIGKILL);
	bot_exited(b, 0, false);
}

/* Is port pid's (its group's)? Logged when not. */
static bool port_is_its_own(struct scan *sc, const struct bot *b,
			    pid_t pid, int port)
{
	enum proc_port_owner o = sc->have_ls
		? proc_port_owner(&sc->ls, port, pid) : PORT_OTHER;
	if (o == PORT_GROUP)
		return true;
	log_warn("reconcile.port_not_its_own", LF_I("id", b->id),
		 LF_I("pid", pid), LF_I("port", port),
		 LF_S("why", sc->have_ls ? proc_port_owner_name(o)
				       : "/proc/net/tcp unreadable"));
	return false;
}

/* Adopt pid for b, or say why not. */
static bool adopt(struct sup *s, struct bot *b, pid_t pid, struct scan *sc)
{
	struct proc_stat before, after;
	if (proc_read_stat(pid, &before) != 0)
		return false;
	/* The pidfd pins the pid: checking the start time again after
	 * opening it rules out a pid recycled in between. */
	int pfd = proc_pidfd_open(pid);
	if (proc_read_stat(pid, &after) != 0 || after.state == 'Z' ||
	    after.starttime != before.starttime) {
		if (pfd >= 0)
			close(pfd);
		return false;
	}
	int port = config_port(s, b->id);
	bool ok = port > 0 && port_is_its_own(sc, b, pid, port);
	if (port <= 0 || (ok && ports_contains(&s->pool, port) &&
			  ports_take(&s->pool, port) != 0)) {
		log_warn("reconcile.port_unusable", LF_I("id", b->id),
			 LF_I("pid", pid), LF_I("port", port));
		ok = false;
	}
	if (!ok) {
		if (pfd >= 0)
			close(pfd);
		return false;
	}
	if (pfd >= 0) {
		b->ev_pidfd = event_new(s->base, pfd, EV_READ, on_pidfd, b);
		event_add(b->ev_pidfd, NULL);
	}
	log_info("reconcile.adopting", LF_I("id", b->id), LF_I("pid", pid),
		 LF_I("port", port), LF_B("pidfd", pfd >= 0));
	bot_adopt(b, pid, after.starttime, pfd, port);
	return true;
}

/* The row's own pid if it is one of the found ones and the same
 * process (start time, boot), else the first found; -1 if none. */
static int pick(const struct sup *s, const struct bot *b,
		const struct scan *sc)
{
	int first = -1;
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->v[i].id != b->id)
			continue;
		if (first < 0)
			first = (int)i;
		struct proc_stat st;
		if (sc->v[i].pid == b->pid &&
		    proc_read_stat(b->pid, &st) == 0 &&
		    st.starttime == b->starttime &&
		    strcmp(b->db_boot_id, s->kernel_boot_id) == 0)
			return (int)i;
	}
	return first;
}

static void kill_unused(const struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->v[i].used)
			continue;
		log_warn("reconcile.kill_stray", LF_I("id", sc->v[i].id),
			 LF_I("pid", sc->v[i].pid));
		(void)proc_kill_group(sc->v[i].pid, SIGKILL);
	}
}

/* A row that says a process runs, when none was adopted, is wrong. */
static void forget_process(struct bot *b)
{
	bool had = b->pid > 0 || b->port > 0;
	b->pid = 0;
	b->port = 0;
	b->starttime = 0;
	if (b->status == ST_STARTING || b->status == ST_RUNNING ||
	    b->status == ST_STOPPING) {
		bot_set_status(b, ST_STOPPED);
		had = true;
	}
	if (had)
		bot_mark_dirty(b);
}

static void clean_files(struct sup *s)
{
	DIR *d = opendir(s->dir_config);
	if (!d)
		return;
	struct dirent *e;
	int removed = 0;
	while ((e = readdir(d)) != NULL) {
		int id;
		char tail[8];
		bool tmp = strstr(e->d_name, ".json.tmp.") != NULL;
		bool cfg = sscanf(e->d_name, "strategy_%d.jso%1[n]", &id,
				  tail) == 2;
		if (!tmp && !cfg)
			continue;
		if (cfg && !tmp) {
			const struct bot *b = bots_find(s, id);
			if (b && b->state != BOT_IDLE)
				continue;
		}
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		log_info("reconcile.cleaned", LF_I("files", removed));
}

static void start_wanted(struct sup *s)
{
	for (size_t i = 0; i < s->nbots; i++) {
		struct bot *b = s->bots[i];
		const cJSON *as = cJSON_GetObjectItemCaseSensitive(
			b->spec, "auto_start");
		bool wanted = b->want_run ||
			      (cJSON_IsTrue(as) && b->status != ST_FAILED);
		if (b->state != BOT_IDLE) {
			if (!b->want_run) /* alive but not wanted */
				bot_request_stop(b, STOP_USER);
			continue;
		}
		if (!wanted)
			continue;
		const char *code;
		char msg[256];
		if (bot_request_start(b, &code, msg, sizeof(msg)) != 0)
			log_warn("reconcile.start_refused", LF_I("id", b->id),
				 LF_S("code", code), LF_S("error", msg));
	}
}

/* Adopt one of the processes found for b: the row's own first (pick),
 * then any other for the same id whose port checks out (the row's
 * pid may be missing, or be a duplicate that never got the port). The
 * index adopted, or -1. */
static int adopt_one(struct sup *s, struct bot *b, struct scan *sc)
{
	int k = pick(s, b, sc);
	if (k < 0)
		return -1;
	if (adopt(s, b, sc->v[k].pid, sc))
		return k;
	for (size_t i = 0; i < sc->n; i++)
		if ((int)i != k && sc->v[i].id == b->id &&
		    adopt(s, b, sc->v[i].pid, sc))
			return (int)i;
	return -1;
}

/*
 * Usually this runs before the loop does. When it runs on the loop (the
 * start-up connection failed) its /proc reads block it once, briefly
 * and boundedly: /proc/net/tcp{,6} once (a line per socket), the fd
 * directory of each found bot, and at most one pass over /proc's stat
 * files; no network, no waiting on another process.
 */
static void load_rows(struct sup *s, const PGresult *res)
{
	struct scan sc = { 0 };
	proc_find_bots(s->dir_config, on_found, &sc);
	if (sc.n > 0) {
		sc.have_ls = proc_listeners_read(&sc.ls) == 0;
		if (!sc.have_ls)
			log_warn("reconcile.no_socket_table",
				 LF_S("why", "/proc/net/tcp unreadable: no "
				      "bot can be adopted"));
	}
	int adopted = 0, rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		struct bot *b = bot_from_row(s, res, r);
		if (!b || bots_add(s, b) != 0) {
			bot_free(b);
			continue;
		}
		int k = adopt_one(s, b, &sc);
		if (k >= 0) {
			sc.v[k].used = true;
			adopted++;
		} else {
			forget_process(b);
		}
	}
	kill_unused(&sc);
	free(sc.v);
	proc_listeners_free(&sc.ls);
	clean_files(s);
	s->reconciled = true;
	log_info("reconcile.done", LF_I("strategies", s->nbots),
		 LF_I("adopted", adopted),
		 LF_S("command", s->ncmd ? s->cmd[0] : ""),
		 LF_S("version", s->version));
	start_wanted(s);
}

/* A reconcile query's answer is no use: the supervisor is going away,
 * or the query failed (then try the whole reconcile again later). */
static bool step_failed(struct sup *s, const char *err)
{
	if (s->dying)
		return true;
	if (!err)
		return false;
	log_warn("reconcile.load_failed", LF_S("error", err));
	again(s, RETRY_MS);
	return true;
}

static void on_rows(const PGresult *res, const char *err, void *arg)
{
	struct sup *s = arg;
	if (step_failed(s, err))
		return;
	load_rows(s, res);
}

static void load_strategies(struct sup *s)
{
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM strategies WHERE deleted_at IS NULL"
		 " ORDER BY id", registry_columns);
	if (lc_db_query(s->svc->db, sql, 0, NULL, on_rows, s) != 0)
		again(s, RETRY_MS);
}

/* to_command is stored as a JSON array of strings. */
static void use_upgrade_command(struct sup *s, const char *version,
				const char *command)
{
	cJSON *a = cJSON_Parse(command);
	size_t n = (size_t)cJSON_GetArraySize(a);
	struct lc_cfg_strlist l = { .v = calloc(n + 1, sizeof(char *)),
				    .n = 0 };
	for (const cJSON *c = cJSON_IsArray(a) ? a->child : NULL; c && l.v;
	     c = c->next)
		if (cJSON_IsString(c))
			l.v[l.n++] = c->valuestring;
	if (l.n > 0) {
		sup_set_command(s, &l, version);
		s->cmd_from_upgrade = true;
	}
	free(l.v);
	cJSON_Delete(a);
}

static void on_current(const PGresult *res, const char *err, void *arg)
{
	struct sup *s = arg;
	if (step_failed(s, err))
		return;
	if (PQntuples(res) == 1)
		use_upgrade_command(s, PQgetvalue(res, 0, 0),
				    PQgetvalue(res, 0, 1));
	load_strategies(s);
}

static const char *const sql_stale =
	"UPDATE freqtrade_upgrades SET status = 'failed',"
	" error = 'interrupted by a supervisor restart',"
	" finished_at = now() WHERE status = 'running'";
static const char *const sql_current =
	"SELECT to_version, to_command FROM freqtrade_upgrades"
	" WHERE status = 'succeeded' ORDER BY started_at DESC, id DESC"
	" LIMIT 1";

static void on_stale(const PGresult *res, const char *err, void *arg)
{
	struct sup *s = arg;
	if (step_failed(s, err))
		return;
	if (PQcmdTuples((PGresult *)res)[0] != '0')
		log_warn("reconcile.upgrade_interrupted");
	if (lc_db_query(s->svc->db, sql_current, 0, NULL, on_current, s) != 0)
		again(s, RETRY_MS);
}

static void step(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sup *s = arg;
	if (!lc_db_ready(s->svc->db)) {
		again(s, WAIT_DB_MS);
		return;
	}
	if (lc_db_query(s->svc->db, sql_stale, 0, NULL, on_stale, s) != 0)
		again(s, RETRY_MS);
}

/* One statement on the start-up connection; NULL (logged) on error. */
static PGresult *exec_sync(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	log_warn("reconcile.load_failed", LF_S("error", PQerrorMessage(c)));
	PQclear(r);
	return NULL;
}

static int reconcile_sync(struct sup *s, PGconn *c)
{
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM strategies WHERE deleted_at IS NULL"
		 " ORDER BY id", registry_columns);
	PGresult *stale = exec_sync(c, sql_stale);
	PGresult *cur = stale ? exec_sync(c, sql_current) : NULL;
	PGresult *rows = cur ? exec_sync(c, sql) : NULL;
	if (rows) {
		if (PQcmdTuples(stale)[0] != '0')
			log_warn("reconcile.upgrade_interrupted");
		if (PQntuples(cur) == 1)
			use_upgrade_command(s, PQgetvalue(cur, 0, 0),
					    PQgetvalue(cur, 0, 1));
		load_rows(s, rows);
	}
	PQclear(stale);
	PQclear(cur);
	PQclear(rows);
	return rows ? 0 : -1;
}

void reconcile_start(struct sup *s)
{
	char conninfo[2048];
	if (lc_svc_conninfo(&sup_cfg(s)->system.database, conninfo,
			    sizeof(conninfo)) == 0) {
		PGconn *c = PQconnectdb(conninfo);
		int rv = PQstatus(c) == CONNECTION_OK ? reconcile_sync(s, c)
						      : -1;
		PQfinish(c);
		if (rv == 0)
			return;
	}
	log_warn("reconcile.deferred", LF_S("why", "retrying on the loop"));
	again(s, 0);
}
