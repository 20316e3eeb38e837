#ifndef TESTS_UNIT_PROMTOOL_H
#define TESTS_UNIT_PROMTOOL_H
/* For cmocka tests: run `promtool check metrics < file` on text; returns
 * its exit status and puts its stdout+stderr in out. Include after
 * <cmocka.h>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int promtool_check(const char *text, char *out, size_t outlen)
{
	char path[] = "/tmp/btcw_promtool.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	unlink(path);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

#endif
