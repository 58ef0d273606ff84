/*
 * test_buf.c: the bounded encoder and the parse cursor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "util.h"

static void
test_roundtrip(void **state)
{
	struct wbuf b;
	struct cursor c;
	const uint8_t *s;
	size_t n;

	(void)state;
	wbuf_init(&b, 64);
	assert_int_equal(wbuf_put_u8(&b, 0xab), 0);
	assert_int_equal(wbuf_put_u16(&b, 0x1234), 0);
	assert_int_equal(wbuf_put_u32(&b, 0xdeadbeef), 0);
	assert_int_equal(wbuf_put_u64(&b, 0x0102030405060708ULL), 0);
	assert_int_equal(wbuf_put_str16(&b, "hi", 2), 0);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 2 + 2);
	assert_int_equal(b.data[1], 0x12);	/* big-endian on the wire */
	cur_init(&c, b.data, b.len);
	assert_int_equal(cur_u8(&c), 0xab);
	assert_int_equal(cur_u16(&c), 0x1234);
	assert_int_equal(cur_u32(&c), 0xdeadbeef);
	assert_true(cur_u64(&c) == 0x0102030405060708ULL);
	s = cur_str16(&c, &n, 10);
	assert_non_null(s);
	assert_int_equal(n, 2);
	assert_memory_equal(s, "hi", 2);
	assert_int_equal(cur_done(&c), 0);
	wbuf_free(&b);
}

static void
test_limits(void **state)
{
	struct wbuf b;
	struct cursor c;
	uint8_t big[100] = { 0 }, two[] = { 0x00, 0x09, 'a' };
	size_t n;

	(void)state;
	wbuf_init(&b, 8);
	assert_int_equal(wbuf_put(&b, big, 8), 0);
	assert_int_equal(wbuf_put_u8(&b, 1), -1);	/* over the cap */
	assert_int_equal(b.err, 1);
	assert_int_equal(wbuf_put_u8(&b, 1), -1);	/* latched */
	wbuf_free(&b);

	/* A declared length beyond the data fails, as does trailing data. */
	cur_init(&c, two, sizeof(two));
	assert_null(cur_str16(&c, &n, 100));
	assert_int_equal(cur_done(&c), -1);
	cur_init(&c, two, sizeof(two));
	assert_null(cur_str16(&c, &n, 4));		/* over the cap */
	cur_init(&c, two, sizeof(two));
	(void)cur_u16(&c);
	assert_int_equal(cur_done(&c), -1);		/* 1 byte left over */
	(void)cur_u8(&c);
	assert_int_equal(cur_done(&c), 0);
	(void)cur_u8(&c);				/* short read */
	assert_int_equal(cur_done(&c), -1);
}

static void
test_hex(void **state)
{
	uint8_t in[3] = { 0x00, 0xab, 0xff }, out[3];
	char s[7];

	(void)state;
	hex_encode(in, 3, s);
	assert_string_equal(s, "00abff");
	assert_int_equal(hex_decode("00ABff", out, 3), 0);
	assert_memory_equal(in, out, 3);
	assert_int_equal(hex_decode("00abf", out, 3), -1);
	assert_int_equal(hex_decode("00abfg", out, 3), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
