/* ft-supervisor's port ownership check for adoption (proc.h): the
 * LISTEN sockets of /proc/net/tcp{,6} that take connections to
 * 127.0.0.1, and who holds them: the process, its group, or another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "services/ft-supervisor/proc.c"

/* Lines as a little-endian kernel prints them (taken from one). */
static const char tcp4[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr "
	"tm->when retrnsmt   uid  timeout inode\n"
	/* 127.0.0.1:8080 LISTEN */
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 111 1 000000005f16f12b 100 0 "
	"0 10 0\n"
	/* 0.0.0.0:8081 LISTEN */
	"   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0\n"
	/* 127.0.0.1:8082 ESTABLISHED: not a listener */
	"   2: 0100007F:1F92 0100007F:D431 01 00000000:00000000 "
	"00:00000000 00000000  1000        0 333 1 0 20 4 30 10 -1\n"
	/* 10.0.0.5:8083 LISTEN: 127.0.0.1 never reaches it */
	"   3: 0500000A:1F93 00000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 444 1 0 100 0 0 10 0\n"
	/* 0.0.0.0:8080 too: the exact bind above wins */
	"   4: 00000000:1F90 00000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000  1000        0 555 1 0 100 0 0 10 0";

static const char tcp6[] =
	"  sl  local_address                         remote_address"
	"                        st tx_queue rx_queue tr tm->when retrnsmt"
	"   uid  timeout inode\n"
	/* ::ffff:127.0.0.1:8084 LISTEN */
	"   0: 0000000000000000FFFF00000100007F:1F94 "
	"00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000     0        0 666 1 0 100 0 0 10 0\n"
	/* :::8085 LISTEN */
	"   1: 00000000000000000000000000000000:1F95 "
	"00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n"
	/* ::1:8086 LISTEN: not 127.0.0.1 */
	"   2: 00000000000000000000000001000000:1F96 "
	"00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000     0        0 888 1 0 100 0 0 10 0\n";

static const struct proc_listen *find(const struct proc_listeners *l,
				      unsigned long long inode)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].inode == inode)
			return &l->v[i];
	return NULL;
}

static void parses_listeners(void **state)
{
	(void)state;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	skip();
#endif
	struct proc_listeners l = { 0 };
	assert_int_equal(proc_listeners_parse(&l, tcp4, false), 0);
	assert_int_equal(proc_listeners_parse(&l, tcp6, true), 0);
	assert_int_equal(l.n, 5);
	const struct proc_listen *p = find(&l, 111);
	assert_non_null(p);
	assert_int_equal(p->port, 8080);
	assert_true(p->exact);
	assert_false(find(&l, 222)->exact);
	assert_int_equal(find(&l, 222)->port, 8081);
	assert_null(find(&l, 333));
	assert_null(find(&l, 444));
	assert_false(find(&l, 555)->exact);
	assert_true(find(&l, 666)->exact);
	assert_int_equal(find(&l, 666)->port, 8084);
	assert_false(find(&l, 777)->exact);
	assert_null(find(&l, 888));
	/* nobody: no listener at all, or only on an address 127.0.0.1
	 * does not reach */
	assert_int_equal(proc_port_owner(&l, 8082, getpid()), PORT_NOBODY);
	assert_int_equal(proc_port_owner(&l, 8083, getpid()), PORT_NOBODY);
	assert_int_equal(proc_port_owner(&l, 8086, getpid()), PORT_NOBODY);
	/* inodes no process of ours holds */
	assert_int_equal(proc_port_owner(&l, 8080, getpid()), PORT_OTHER);
	assert_int_equal(proc_port_owner(&l, 8085, getpid()), PORT_OTHER);
	proc_listeners_free(&l);
}

static int listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A child in a session (and group) of its own that listens or not,
 * and tells its port (0: none) through the pipe; it holds none of our
 * sockets. */
static pid_t session_child(bool listens, int *port)
{
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int p = 0;
		/* our sockets must not be held by it */
		for (int f = 3; f < 1024; f++)
			if (f != pp[1])
				close(f);
		(void)setsid();
		if (listens)
			(void)listener(&p);
		if (write(pp[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		pause();
		_exit(0);
	}
	close(pp[1]);
	assert_int_equal(read(pp[0], port, sizeof(*port)), sizeof(*port));
	close(pp[0]);
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void live_owners(void **state)
{
	(void)state;
	int mine;
	int fd = listener(&mine);
	int theirs;
	pid_t other = session_child(true, &theirs);
	int none;
	pid_t idle = session_child(false, &none);
	assert_int_equal(none, 0);
	/* bound but not listening: nothing answers there */
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int quiet = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(quiet, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(quiet, (struct sockaddr *)&a, &len), 0);

	struct proc_listeners l = { 0 };
	assert_int_equal(proc_listeners_read(&l), 0);
	/* the leader holds it */
	assert_int_equal(proc_port_owner(&l, theirs, other), PORT_GROUP);
	/* held, but by someone outside the group asked about */
	assert_int_equal(proc_port_owner(&l, theirs, idle), PORT_OTHER);
	assert_int_equal(proc_port_owner(&l, mine, other), PORT_OTHER);
	/* held by a member that is not the leader: this test runs in the
	 * group of whoever started it */
	if (getpgrp() != getpid())
		assert_int_equal(proc_port_owner(&l, mine, getpgrp()),
				 PORT_GROUP);
	else
		assert_int_equal(proc_port_owner(&l, mine, getpid()),
				 PORT_GROUP);
	assert_int_equal(proc_port_owner(&l, ntohs(a.sin_port), other),
			 PORT_NOBODY);
	assert_string_equal(proc_port_owner_name(PORT_OTHER),
			    "another process holds it");
	proc_listeners_free(&l);
	close(quiet);
	close(fd);
	stop_child(other);
	stop_child(idle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_listeners),
		cmocka_unit_test(live_owners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
