/*
 * msg: RPC messages (FreqTrade's RPCSendMsg dicts): typed fields in
 * insertion order, printable as Python (the log), as JSON (the message
 * websocket) and formattable by webhook templates (fmt.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/ftsim/ftsim.h"

static const char *const type_names[MSG__COUNT] = {
	"status",
	"warning",
	"exception",
	"startup",
	"entry",
	"entry_fill",
	"entry_cancel",
	"exit",
	"exit_fill",
	"exit_cancel",
	"protection_trigger",
	"protection_trigger_global",
	"strategy_msg",
	"whitelist",
	"analyzed_df",
	"new_candle",
};

const char *msg_type_name(enum ft_msg_type t)
{
	return (unsigned)t < MSG__COUNT ? type_names[t] : "unknown";
}

int msg_type_parse(const char *s)
{
	for (int i = 0; i < MSG__COUNT; i++)
		if (strcmp(type_names[i], s) == 0)
			return i;
	return -1;
}

struct ft_msg *msg_new(enum ft_msg_type type)
{
	struct ft_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->type = type;
	msg_add(m, "type", PV_S(type_names[type]));
	return m;
}

void msg_free(struct ft_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nowned; i++)
		free(m->owned[i]);
	free(m);
}

void msg_add(struct ft_msg *m, const char *key, struct pv v)
{
	if (!m || m->n >= MSG_MAX_FIELDS)
		return;
	m->f[m->n].key = key;
	m->f[m->n].v = v;
	m->n++;
}

void msg_add_str(struct ft_msg *m, const char *key, const char *s)
{
	if (!m || !s) {
		msg_add(m, key, PV_NONE_V);
		return;
	}
	char *c = strdup(s);
	if (!c || m->nowned >= MSG_MAX_FIELDS) {
		free(c);
		msg_add(m, key, PV_NONE_V);
		return;
	}
	m->owned[m->nowned++] = c;
	struct pv v = PV_S(c);
	if (strcmp(key, "data") == 0)
		v.t = PV_RAW; /* a list or tuple, printed as Python */
	msg_add(m, key, v);
}

const struct pv *msg_get(const struct ft_msg *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].key, key) == 0)
			return &m->f[i].v;
	return NULL;
}

int msg_repr(const struct ft_msg *m, struct lc_buf *out)
{
	int rc = lc_buf_append_str(out, "{");
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		struct pv k = PV_S(m->f[i].key);
		if (strcmp(m->f[i].key, "data_json") == 0)
			continue;
		rc = i ? lc_buf_append_str(out, ", ") : 0;
		rc = rc ? rc : fmt_repr(out, &k);
		rc = rc ? rc : lc_buf_append_str(out, ": ");
		if (rc == 0 && i == 0) /* RPCMessageType's repr is its value */
			rc = fmt_str(out, &m->f[i].v);
		else if (rc == 0)
			rc = fmt_repr(out, &m->f[i].v);
	}
	return rc ? rc : lc_buf_append_str(out, "}");
}

/* A date as orjson writes it: "2025-01-02T03:04:05.123456+00:00". */
static void iso_date(char *out, int64_t us, bool aware)
{
	fmt_date_str(out, us, aware);
	out[10] = 'T';
}

static cJSON *pv_json(const struct pv *v, const char *data_json)
{
	char b[48];
	switch (v->t) {
	case PV_NONE: return cJSON_CreateNull();
	case PV_BOOL: return cJSON_CreateBool(v->i != 0);
	case PV_INT: return json_int(v->i);
	case PV_FLOAT: return json_float(v->d);
	case PV_DATE:
		iso_date(b, v->i, v->aware);
		return cJSON_CreateString(b);
	case PV_RAW:
		if (data_json)
			return cJSON_CreateRaw(data_json);
		return cJSON_CreateString(v->s ? v->s : "");
	case PV_STR: return cJSON_CreateString(v->s ? v->s : "");
	}
	return cJSON_CreateNull();
}

char *msg_json(const struct ft_msg *m)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	const struct pv *dj = msg_get(m, "data_json");
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->f[i].key, "data_json") == 0)
			continue;
		cJSON_AddItemToObject(
		        o, m->f[i].key,
		        pv_json(&m->f[i].v,
		                dj && strcmp(m->f[i].key, "data") == 0
		                        ? dj->s
		                        : NULL));
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}
