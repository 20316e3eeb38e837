#ifndef GW_LIVEPUSH_H
#define GW_LIVEPUSH_H
/*
 * Live push at /ws (livepush.c): bus events streamed to authenticated
 * WebSocket clients, bounded per client. See the top of livepush.c for
 * the messages.
 */
#include <stddef.h>

struct gw;
struct gw_push;

/* Subscribe to the streamed topics (gw->events must exist; gw->lives
 * started, sessions.h). 0, or -1 with err. */
int gw_push_start(struct gw *g, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Shutdown begins: close every session (1001) while the loop runs. */
void gw_push_close_all(struct gw_push *p);

/* Sessions open now. */
unsigned gw_push_clients(const struct gw_push *p);

/* Free after the HTTP server (which closes the sessions); NULL does
 * nothing. */
void gw_push_free(struct gw_push *p);

#endif
