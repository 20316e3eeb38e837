/* ft-supervisor's port pool: preferred and lowest ports, ports held by
 * another program, exhaustion, release, and the bitmap levels checked
 * against a plain array on a full-size pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "services/ft-supervisor/ports.c"

static void preferred_then_lowest(void **state)
{
	(void)state;
	struct ports p;
	assert_int_equal(ports_init(&p, 8081, 9080), 0);
	assert_int_equal(p.n, 1000);
	assert_int_equal(ports_alloc(&p, 8081 + 5), 8086);
	/* preferred taken: the lowest free */
	assert_int_equal(ports_alloc(&p, 8086), 8081);
	assert_int_equal(ports_alloc(&p, 8081 + 2000), 8082); /* outside */
	assert_int_equal(p.used, 3);
	assert_int_equal(ports_available(&p), 997);
	ports_free(&p, 8081);
	assert_false(ports_taken(&p, 8081));
	assert_int_equal(ports_alloc(&p, 0), 8081);
	ports_free(&p, 7000);   /* outside: ignored */
	ports_free(&p, 8090);   /* not taken: ignored */
	assert_int_equal(p.used, 3);
	ports_release(&p);
}

static void exhaustion(void **state)
{
	(void)state;
	struct ports p;
	assert_int_equal(ports_init(&p, 20000, 20004), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ports_alloc(&p, 0), 20000 + i);
	assert_int_equal(ports_alloc(&p, 20002), -1);
	assert_int_equal(ports_available(&p), 0);
	ports_free(&p, 20003);
	assert_int_equal(ports_alloc(&p, 20000), 20003);
	ports_release(&p);
}

/* Ports 20001 and 20002 are "held by another program". */
static bool probe_stub(int port, void *arg)
{
	int *calls = arg;
	(*calls)++;
	return port != 20001 && port != 20002;
}

static void held_ports_are_skipped(void **state)
{
	(void)state;
	struct ports p;
	int calls = 0;
	assert_int_equal(ports_init(&p, 20000, 20009), 0);
	p.probe = probe_stub;
	p.probe_arg = &calls;
	assert_int_equal(ports_alloc(&p, 20001), 20000); /* preferred held */
	assert_int_equal(ports_alloc(&p, 0), 20003);
	/* the skipped ports are not kept: still free for later */
	assert_false(ports_taken(&p, 20001));
	assert_false(ports_taken(&p, 20002));
	assert_int_equal(p.used, 2);
	ports_release(&p);
}

static bool probe_none(int port, void *arg)
{
	(void)port;
	(void)arg;
	return false;
}

static void all_held_is_exhaustion(void **state)
{
	(void)state;
	struct ports p;
	assert_int_equal(ports_init(&p, 20000, 20199), 0);
	p.probe = probe_none;
	assert_int_equal(ports_alloc(&p, 20050), -1);
	assert_int_equal(p.used, 0);
	p.probe = NULL;
	assert_int_equal(ports_alloc(&p, 0), 20000);
	ports_release(&p);
}

static void take_exact(void **state)
{
	(void)state;
	struct ports p;
	assert_int_equal(ports_init(&p, 8081, 9080), 0);
	assert_int_equal(ports_take(&p, 8500), 0);
	assert_int_equal(ports_take(&p, 8500), -1);
	assert_int_equal(ports_take(&p, 9081), -1);
	assert_int_equal(ports_alloc(&p, 8500), 8081);
	assert_true(ports_contains(&p, 9080));
	assert_false(ports_contains(&p, 9081));
	ports_release(&p);
}

static void bad_ranges(void **state)
{
	(void)state;
	struct ports p;
	assert_int_equal(ports_init(&p, 9000, 8000), -1);
	assert_int_equal(ports_init(&p, 0, 10), -1);
	assert_int_equal(ports_init(&p, 1, 65535), 0);
	assert_int_equal(p.nlev, 3);
	ports_release(&p);
	assert_int_equal(ports_init(&p, 100, 163), 0); /* exactly 64 */
	assert_int_equal(p.nlev, 1);
	for (int i = 0; i < 64; i++)
		assert_int_equal(ports_alloc(&p, 0), 100 + i);
	assert_int_equal(ports_alloc(&p, 0), -1);
	ports_release(&p);
}

/* Random allocs and frees over the largest pool against a plain array:
 * the lowest free port must always match. */
static void matches_naive_model(void **state)
{
	(void)state;
	struct ports p;
	enum { BASE = 1, N = 65535 };
	assert_int_equal(ports_init(&p, BASE, BASE + N - 1), 0);
	bool *taken = calloc(N, sizeof(bool));
	assert_non_null(taken);
	uint64_t rng = 12345;
	for (int step = 0; step < 200000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int port = BASE + (int)(rng % N);
		if (rng & (1ull << 40)) {
			int want = -1;
			if (!taken[port - BASE]) {
				want = port;
			} else {
				for (int i = 0; i < N; i++)
					if (!taken[i]) {
						want = BASE + i;
						break;
					}
			}
			assert_int_equal(ports_alloc(&p, port), want);
			if (want > 0)
				taken[want - BASE] = true;
		} else {
			ports_free(&p, port);
			taken[port - BASE] = false;
		}
		if (step == 100000) /* fill it to the brim once */
			while (ports_alloc(&p, 0) > 0)
				;
		if (step == 100000)
			for (int i = 0; i < N; i++)
				taken[i] = true;
	}
	int used = 0;
	for (int i = 0; i < N; i++)
		used += taken[i];
	assert_int_equal(p.used, used);
	free(taken);
	ports_release(&p);
}

static void probe_bind_sees_a_listener(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	int port = ntohs(a.sin_port);
	assert_false(ports_probe_bind(port, NULL));
	close(fd);
	assert_true(ports_probe_bind(port, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(preferred_then_lowest),
		cmocka_unit_test(exhaustion),
		cmocka_unit_test(held_ports_are_skipped),
		cmocka_unit_test(all_held_is_exhaustion),
		cmocka_unit_test(take_exact),
		cmocka_unit_test(bad_ranges),
		cmocka_unit_test(matches_naive_model),
		cmocka_unit_test(probe_bind_sees_a_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
