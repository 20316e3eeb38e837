/* signal-ingest: the spool's record format and files (spoolrec.c,
 * spool.c): grouped fsynced appends, replay in order, torn and damaged
 * records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "services/signal-ingest/sig.c"
#include "services/signal-ingest/spool.c"
#include "services/signal-ingest/spoolrec.c"

#include <dirent.h>

static void make_row(struct sig *s, int n)
{
	char key[32];
	sig_init(s);
	snprintf(key, sizeof(key), "entry:%d:abc", n);
	assert_int_equal(sig_set_str(s, SC_STRATEGY_ID, "3"), 0);
	assert_int_equal(sig_set_str(s, SC_DEDUPE_KEY, key), 0);
	assert_int_equal(sig_set_str(s, SC_ACTION, "entry"), 0);
	assert_int_equal(sig_set_str(s, SC_RAW, "{\"type\":\"entry\"}"), 0);
	assert_int_equal(sig_set_str(s, SC_MESSAGE, ""), 0);
}

static void assert_same(const struct sig *a, const struct sig *b)
{
	for (int i = 0; i < SC_NCOL; i++) {
		const char *x = sig_get(a, (enum sig_col)i);
		const char *y = sig_get(b, (enum sig_col)i);
		if (!x || !y)
			assert_true(x == y);
		else
			assert_string_equal(x, y);
	}
}

static void records_round_trip(void **state)
{
	(void)state;
	struct sig a, b;
	struct lc_buf buf;
	size_t used;
	make_row(&a, 1);
	lc_buf_init(&buf, 1 << 20);
	assert_int_equal(spool_rec_encode(&a, &buf), 0);
	sig_init(&b);
	assert_int_equal(spool_rec_decode((unsigned char *)buf.data, buf.len,
					  &b, &used),
			 1);
	assert_int_equal(used, buf.len);
	assert_same(&a, &b);
	assert_null(sig_get(&b, SC_PAIR));         /* NULL stays NULL */
	assert_string_equal(sig_get(&b, SC_MESSAGE), ""); /* "" stays "" */
	sig_release(&b);
	/* every prefix is "read more", never a record or an error */
	for (size_t n = 0; n < buf.len; n++) {
		sig_init(&b);
		assert_int_equal(spool_rec_decode((unsigned char *)buf.data,
						  n, &b, &used),
				 0);
		sig_release(&b);
	}
	buf.data[buf.len - 3] ^= 0x20; /* a flipped bit: the CRC sees it */
	sig_init(&b);
	assert_int_equal(spool_rec_decode((unsigned char *)buf.data, buf.len,
					  &b, &used),
			 -1);
	buf.data[0] = 'X';
	assert_int_equal(spool_rec_decode((unsigned char *)buf.data, buf.len,
					  &b, &used),
			 -1);
	sig_release(&b);
	sig_release(&a);
	lc_buf_release(&buf);
	/* the standard check value of CRC-32C */
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xE3069283);
}

/* ---- files ---- */

struct fixture {
	char dir[64];
	struct event_base *base;
	struct spool *sp;
	int done, failed;
};

static void on_done(void *arg, int err)
{
	struct fixture *f = arg;
	f->done++;
	if (err)
		f->failed++;
}

static void run_until(struct fixture *f, int done)
{
	for (int i = 0; i < 1000 && f->done < done; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(f->done, done);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/btcw-spool-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->base = event_base_new();
	*state = f;
	return 0;
}

static void rm_dir(const char *dir)
{
	char path[4096];
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	spool_free(f->sp);
	event_base_free(f->base);
	rm_dir(f->dir);
	free(f);
	return 0;
}

static void open_spool(struct fixture *f, int64_t max)
{
	char err[256];
	f->sp = spool_open(f->base, f->dir, max, err, sizeof(err));
	if (!f->sp)
		fail_msg("%s", err);
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "seg-", 4) == 0;
	closedir(d);
	return n;
}

static void append(struct fixture *f, int from, int to)
{
	for (int i = from; i < to; i++) {
		struct sig s;
		make_row(&s, i);
		assert_int_equal(spool_append(f->sp, &s, on_done, f), 0);
		sig_release(&s);
	}
}

/* Read up to max rows; check they are rows first..first+n-1. */
static size_t read_rows(struct fixture *f, int first, size_t max)
{
	struct sig rows[16];
	size_t n;
	char key[32];
	for (size_t i = 0; i < 16; i++)
		sig_init(&rows[i]);
	assert_int_equal(spool_read(f->sp, rows, max, &n), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "entry:%d:abc", first + (int)i);
		assert_string_equal(sig_get(&rows[i], SC_DEDUPE_KEY), key);
	}
	for (size_t i = 0; i < 16; i++)
		sig_release(&rows[i]);
	return n;
}

static void appends_are_replayed_in_order(void **state)
{
	struct fixture *f = *state;
	open_spool(f, 1 << 20);
	assert_true(spool_empty(f->sp));
	append(f, 1, 4);
	assert_false(spool_empty(f->sp));
	run_until(f, 3);
	assert_int_equal(f->failed, 0);
	assert_true(spool_idle(f->sp));
	assert_int_equal(count_segments(f->dir), 1);
	assert_int_equal(read_rows(f, 1, 2), 2);
	assert_int_equal(read_rows(f, 3, 16), 1);
	assert_int_equal(read_rows(f, 4, 16), 0);
	spool_consumed(f->sp);
	assert_true(spool_empty(f->sp));
	assert_int_equal(spool_bytes(f->sp), 0);
	assert_int_equal(count_segments(f->dir), 0);
}

static void replay_seals_and_new_appends_go_after(void **state)
{
	struct fixture *f = *state;
	open_spool(f, 1 << 20);
	append(f, 1, 3);
	run_until(f, 2);
	assert_int_equal(read_rows(f, 1, 16), 2);
	append(f, 3, 5); /* while rows 1-2 are being committed */
	run_until(f, 4);
	assert_int_equal(count_segments(f->dir), 2);
	spool_unread(f->sp); /* the commit failed: again */
	assert_int_equal(read_rows(f, 1, 16), 2);
	spool_consumed(f->sp);
	assert_int_equal(count_segments(f->dir), 1);
	assert_int_equal(read_rows(f, 3, 16), 2);
	spool_consumed(f->sp);
	assert_int_equal(read_rows(f, 5, 16), 0);
	assert_true(spool_empty(f->sp));
}

static void write_file(const char *dir, const char *name, const char *p,
		       size_t n)
{
	char path[4096];
	FILE *fp;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

/* Records 1..n encoded back to back. */
static void encode_rows(struct lc_buf *b, int n, size_t *ends)
{
	lc_buf_init(b, 1 << 20);
	for (int i = 1; i <= n; i++) {
		struct sig s;
		make_row(&s, i);
		assert_int_equal(spool_rec_encode(&s, b), 0);
		ends[i - 1] = b->len;
		sig_release(&s);
	}
}

static void a_torn_tail_after_a_crash_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct lc_buf b;
	size_t ends[3];
	encode_rows(&b, 3, ends);
	/* the third append was cut short by the crash: never acked */
	write_file(f->dir, "seg-0000000000000007.spool", b.data,
		   ends[1] + (ends[2] - ends[1]) / 2);
	write_file(f->dir, "seg-0000000000000003.spool", "", 0);
	lc_buf_release(&b);
	open_spool(f, 1 << 20);
	assert_false(spool_empty(f->sp));
	assert_int_equal(count_segments(f->dir), 1); /* the empty one went */
	assert_int_equal(read_rows(f, 1, 16), 2);
	spool_consumed(f->sp);
	assert_int_equal(read_rows(f, 3, 16), 0);
	assert_true(spool_empty(f->sp));
	/* new segments number after the ones found */
	append(f, 1, 2);
	run_until(f, 1);
	assert_non_null(seg_by_seq(f->sp, 8));
}

static void a_damaged_record_loses_only_itself(void **state)
{
	struct fixture *f = *state;
	struct lc_buf b;
	size_t ends[3];
	encode_rows(&b, 3, ends);
	b.data[ends[1] - 2] ^= 1; /* inside record 2's payload */
	write_file(f->dir, "seg-0000000000000001.spool", b.data, b.len);
	lc_buf_release(&b);
	open_spool(f, 1 << 20);
	assert_int_equal(read_rows(f, 1, 16), 1);
	spool_consumed(f->sp);
	assert_int_equal(read_rows(f, 3, 16), 1);
	spool_consumed(f->sp);
	assert_true(spool_empty(f->sp));
}

static void a_full_spool_refuses(void **state)
{
	struct fixture *f = *state;
	struct sig s;
	open_spool(f, 200);
	make_row(&s, 1);
	assert_int_equal(spool_append(f->sp, &s, on_done, f), 0);
	assert_int_equal(spool_append(f->sp, &s, on_done, f), -1);
	run_until(f, 1);
	spool_set_max(f->sp, 1 << 20);
	assert_int_equal(spool_append(f->sp, &s, on_done, f), 0);
	run_until(f, 2);
	sig_release(&s);
}

static void a_spool_it_cannot_create_is_an_error(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];
	write_file(f->dir, "file", "x", 1);
	snprintf(path, sizeof(path), "%s/file/sub", f->dir);
	assert_null(spool_open(f->base, path, 1 << 20, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_round_trip),
		cmocka_unit_test_setup_teardown(appends_are_replayed_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			replay_seals_and_new_appends_go_after, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_torn_tail_after_a_crash_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_damaged_record_loses_only_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_spool_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_spool_it_cannot_create_is_an_error, setup,
			teardown),
	};
	return cmocka_run_group_tests_name("ingest_spool", tests, NULL, NULL);
}
