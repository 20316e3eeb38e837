/* signal-ingest: the webhook port's HTTP/1.1 server (httpd.c), driven
 * through a socketpair: requests in, answers and refusals out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "services/signal-ingest/httpd.c"
#include "services/signal-ingest/values.c"

#include <poll.h>

struct fixture {
	struct event_base *base;
	struct httpd *h;
	int client;                 /* our end of the socketpair */
	int requests;
	char method[16], path[128], query[128], ctype[64], body[256];
	struct httpd_req *held;     /* answered later when set */
	bool hold;
	int refusals[600];
};

static void handler(struct httpd_req *r, void *arg)
{
	struct fixture *f = arg;
	f->requests++;
	snprintf(f->method, sizeof(f->method), "%s", r->method);
	snprintf(f->path, sizeof(f->path), "%s", r->path);
	snprintf(f->query, sizeof(f->query), "%.*s", (int)r->query_len,
		 r->query ? r->query : "");
	snprintf(f->ctype, sizeof(f->ctype), "%s",
		 r->content_type ? r->content_type : "");
	snprintf(f->body, sizeof(f->body), "%.*s", (int)r->body_len, r->body);
	assert_int_equal(r->body[r->body_len], '\0');
	if (f->hold) {
		f->held = r;
		return;
	}
	httpd_reply(r, 200, "{\"ok\":1}", 8, NULL);
}

static void refused_cb(int status, const char *code, void *arg)
{
	struct fixture *f = arg;
	(void)code;
	f->refusals[status]++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int sv[2];
	f->base = event_base_new();
	f->h = httpd_new(f->base, "127.0.0.1", 0, 64, handler, refused_cb, f,
			 err, sizeof(err));
	if (!f->h || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	evutil_make_socket_nonblocking(sv[0]);
	on_accept(NULL, sv[0], NULL, 0, f->h);
	f->client = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->held)
		httpd_reply(f->held, 200, "{}", 2, NULL);
	httpd_free(f->h);
	event_base_free(f->base);
	if (f->client >= 0)
		close(f->client);
	free(f);
	return 0;
}

static void turn(struct fixture *f)
{
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void send_text(struct fixture *f, const char *s)
{
	assert_int_equal(write(f->client, s, strlen(s)), (ssize_t)strlen(s));
	turn(f);
}

/* Everything the server wrote so far (waits a little for the first). */
static const char *received(struct fixture *f)
{
	static char buf[8192];
	size_t n = 0;
	struct pollfd p = { f->client, POLLIN, 0 };
	turn(f);
	while (n < sizeof(buf) - 1 && poll(&p, 1, n ? 0 : 500) == 1) {
		ssize_t r = read(f->client, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		turn(f);
	}
	buf[n] = '\0';
	return buf;
}

static bool server_closed(struct fixture *f)
{
	char c;
	struct pollfd p = { f->client, POLLIN, 0 };
	turn(f);
	return poll(&p, 1, 500) == 1 && read(f->client, &c, 1) == 0;
}

#define POST_HEAD "POST /api/v1/signals/webhook/3/tok?x=1 HTTP/1.1\r\n" \
		  "Host: a\r\nContent-Type: application/json\r\n"

static void a_request_reaches_the_handler(void **state)
{
	struct fixture *f = *state;
	const char *out;
	send_text(f, POST_HEAD "Content-Length: 4\r\n\r\n{\"a\"");
	assert_int_equal(f->requests, 1);
	assert_string_equal(f->method, "POST");
	assert_string_equal(f->path, "/api/v1/signals/webhook/3/tok");
	assert_string_equal(f->query, "x=1");
	assert_string_equal(f->ctype, "application/json");
	assert_string_equal(f->body, "{\"a\"");
	out = received(f);
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(out, "Content-Length: 8\r\n"));
	assert_non_null(strstr(out, "\r\nDate: "));
	assert_non_null(strstr(out, "\r\n\r\n{\"ok\":1}"));
	assert_null(strstr(out, "Connection: close"));
	/* keep-alive: the next request on the same connection */
	send_text(f, POST_HEAD "Content-Length: 0\r\n\r\n");
	assert_int_equal(f->requests, 2);
	assert_string_equal(f->body, "");
	assert_non_null(strstr(received(f), "200 OK"));
}

static void a_body_arriving_in_pieces(void **state)
{
	struct fixture *f = *state;
	send_text(f, "POST /p HTTP/1.1\r\nContent-");
	send_text(f, "Length: 10\r\n\r\n01234");
	assert_int_equal(f->requests, 0);
	send_text(f, "56789");
	assert_int_equal(f->requests, 1);
	assert_string_equal(f->body, "0123456789");
	assert_string_equal(f->query, "");
}

static void pipelined_requests_are_answered_in_order(void **state)
{
	struct fixture *f = *state;
	const char *out;
	f->hold = true;
	send_text(f, "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nA"
		     "POST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nB");
	assert_int_equal(f->requests, 1); /* the second waits */
	assert_string_equal(f->path, "/a");
	assert_int_equal(httpd_pending(f->h), 1);
	f->hold = false;
	httpd_reply(f->held, 202, "{\"n\":1}", 7, NULL);
	f->held = NULL;
	out = received(f);
	assert_int_equal(f->requests, 2);
	assert_string_equal(f->path, "/b");
	assert_non_null(strstr(out, "202 Accepted"));
	assert_non_null(strstr(out, "200 OK"));
	assert_true(strstr(out, "202") < strstr(out, "200 OK"));
	assert_int_equal(httpd_pending(f->h), 0);
}

static void too_large_is_refused_from_the_header(void **state)
{
	struct fixture *f = *state;
	const char *out;
	send_text(f, "POST /p HTTP/1.1\r\nExpect: 100-continue\r\n"
		     "Content-Length: 65\r\n\r\n");
	out = received(f);
	assert_int_equal(f->requests, 0);
	assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
	assert_non_null(strstr(out, "Connection: close"));
	assert_non_null(strstr(out, "{\"error\":\"payload_too_large\","
				    "\"detail\":\"the body is larger than 64"
				    " bytes\"}"));
	assert_null(strstr(out, "100 Continue"));
	assert_int_equal(f->refusals[413], 1);
	/* what the client still sends is read and dropped, then EOF */
	shutdown(f->client, SHUT_WR);
	assert_true(server_closed(f));
}

static void expect_continue_within_the_limit(void **state)
{
	struct fixture *f = *state;
	send_text(f, "POST /p HTTP/1.1\r\nExpect: 100-continue\r\n"
		     "Content-Length: 2\r\n\r\n");
	assert_string_equal(received(f), "HTTP/1.1 100 Continue\r\n\r\n");
	send_text(f, "{}");
	assert_int_equal(f->requests, 1);
	assert_non_null(strstr(received(f), "200 OK"));
}

static void check_refusal(const char *request, int status, const char *code)
{
	struct fixture *f;
	char want[64];
	assert_int_equal(setup((void **)&f), 0);
	send_text(f, request);
	snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
	const char *out = received(f);
	if (strncmp(out, want, strlen(want)) != 0 || !strstr(out, code))
		fail_msg("%s -> %s", request, out);
	assert_int_equal(f->requests, 0);
	assert_int_equal(f->refusals[status], 1);
	teardown((void **)&f);
}

static void malformed_requests_are_refused(void **state)
{
	(void)state;
	check_refusal("GARBAGE\r\n\r\n", 400, "bad_request");
	check_refusal("POST noslash HTTP/1.1\r\n\r\n", 400, "bad_request");
	check_refusal("POST /p HTTP/2.0\r\n\r\n", 505,
		      "http_version_not_supported");
	check_refusal("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		      411, "length_required");
	check_refusal("POST /p HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400,
		      "bad_request");
	check_refusal("POST /p HTTP/1.1\r\nContent-Length: 1\r\n"
		      "Content-Length: 2\r\n\r\n", 400, "bad_request");
	check_refusal("POST /p HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400,
		      "bad_request");
	check_refusal("POST /p HTTP/1.1\r\nBad Name: b\r\n\r\n", 400,
		      "bad_request");
	check_refusal("POST /p HTTP/1.1\nHost: a\n\n\r\n\r\n", 400,
		      "bad_request");
	check_refusal("POST /p HTTP/1.1\r\nExpect: magic\r\n\r\n", 417,
		      "expectation_failed");
}

static void a_huge_head_is_refused(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(HTTPD_MAX_HEAD + 64);
	memset(big, 'a', HTTPD_MAX_HEAD + 63);
	memcpy(big, "POST /p HTTP/1.1\r\nX: ", 21);
	big[HTTPD_MAX_HEAD + 63] = '\0';
	send_text(f, big);
	free(big);
	assert_true(strncmp(received(f), "HTTP/1.1 431 ", 13) == 0);
}

static void connection_close_and_http10(void **state)
{
	struct fixture *f = *state;
	send_text(f, "POST /p HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(received(f), "Connection: close"));
	assert_true(server_closed(f));
	teardown(state);
	setup(state);
	f = *state;
	send_text(f, "POST /p HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(received(f), "Connection: close"));
	assert_true(server_closed(f));
}

static void a_client_gone_before_the_answer(void **state)
{
	struct fixture *f = *state;
	f->hold = true;
	send_text(f, "POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_non_null(f->held);
	close(f->client);
	f->client = -1;
	turn(f);
	/* answering it is harmless, and frees it */
	httpd_reply(f->held, 200, "{}", 2, NULL);
	f->held = NULL;
	turn(f);
	assert_int_equal(httpd_pending(f->h), 0);
}

static void requests_outlive_the_server(void **state)
{
	struct fixture *f = *state;
	f->hold = true;
	send_text(f, "POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	httpd_free(f->h);
	f->h = NULL;
	httpd_reply(f->held, 200, "{}", 2, NULL);
	f->held = NULL;
	/* teardown frees a NULL server */
}

static void error_bodies_are_json(void **state)
{
	(void)state;
	char out[512];
	error_body(out, sizeof(out), "invalid_field",
		   "field 'a\"b' \\ \x01 \xc3\xa9");
	assert_string_equal(out, "{\"error\":\"invalid_field\",\"detail\":"
				 "\"field 'a\\\"b' \\\\ \\u0001 ??\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_request_reaches_the_handler,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_body_arriving_in_pieces,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			pipelined_requests_are_answered_in_order, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			too_large_is_refused_from_the_header, setup, teardown),
		cmocka_unit_test_setup_teardown(
			expect_continue_within_the_limit, setup, teardown),
		cmocka_unit_test(malformed_requests_are_refused),
		cmocka_unit_test_setup_teardown(a_huge_head_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(connection_close_and_http10,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_client_gone_before_the_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(requests_outlive_the_server,
						setup, teardown),
		cmocka_unit_test(error_bodies_are_json),
	};
	return cmocka_run_group_tests_name("ingest_httpd", tests, NULL, NULL);
}
