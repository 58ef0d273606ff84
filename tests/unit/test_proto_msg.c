/*
 * test_proto_msg.c: the messaging bodies of PROTOCOL.md §8: round trips,
 * exact consumption, limits, and the record table entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "proto.h"

static void
test_send_deliver(void **state)
{
	static uint8_t env[SC_MAX_ENVELOPE + 1];
	struct sc_send s = { 7, env, 100 }, s2;
	struct sc_deliver d = { 42, env, 100 }, d2;
	struct wbuf b;

	(void)state;
	memset(env, 0xab, sizeof(env));
	wbuf_init(&b, SC_MAX_RECORD_PT);
	assert_int_equal(sc_send_encode(&b, &s), 0);
	assert_int_equal(sc_send_parse(b.data, b.len, &s2), 0);
	assert_int_equal(s2.ref, 7);
	assert_int_equal(s2.envlen, 100);
	/* One byte more or less is a malformed body. */
	assert_int_equal(sc_send_parse(b.data, b.len - 1, &s2), SC_E_PROTOCOL);
	b.data[b.len] = 0;
	assert_int_equal(sc_send_parse(b.data, b.len + 1, &s2), SC_E_PROTOCOL);
	/* Empty and oversized envelopes are refused on both sides. */
	s.envlen = 0;
	assert_int_equal(sc_send_encode(&b, &s), -1);
	s.envlen = SC_MAX_ENVELOPE + 1;
	assert_int_equal(sc_send_encode(&b, &s), -1);
	wbuf_reset(&b);
	assert_int_equal(sc_deliver_encode(&b, &d), 0);
	assert_int_equal(sc_deliver_parse(b.data, b.len, &d2), 0);
	assert_true(d2.msg_id == 42);
	assert_memory_equal(d2.env, env, 100);
	/* msg_id 0 is never a message. */
	b.data[7] = 0;
	assert_int_equal(sc_deliver_parse(b.data, b.len, &d2), SC_E_PROTOCOL);
	wbuf_free(&b);
}

static void
test_sent_ack_status(void **state)
{
	struct sc_sent t = { 3, SC_E_RATE_LIMITED, 0,
	    (const uint8_t *)"slow down", 9 }, t2;
	struct sc_ack a = { 9, SC_ST_READ }, a2;
	struct sc_status st = { 9, (const uint8_t *)"bob", 3, SC_ST_DELIVERED },
	    st2;
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 1024);
	assert_int_equal(sc_sent_encode(&b, &t), 0);
	assert_int_equal(sc_sent_parse(b.data, b.len, &t2), 0);
	assert_int_equal(t2.code, SC_E_RATE_LIMITED);
	assert_int_equal(t2.reasonlen, 9);
	wbuf_reset(&b);
	assert_int_equal(sc_ack_encode(&b, &a), 0);
	assert_int_equal(sc_ack_parse(b.data, b.len, &a2), 0);
	assert_int_equal(a2.state, SC_ST_READ);
	b.data[8] = 3;		/* no such state */
	assert_int_equal(sc_ack_parse(b.data, b.len, &a2), SC_E_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(sc_status_encode(&b, &st), 0);
	assert_int_equal(sc_status_parse(b.data, b.len, &st2), 0);
	assert_memory_equal(st2.by_user, "bob", 3);
	/* A by_user outside the username alphabet is malformed. */
	st.by_user = (const uint8_t *)"B\x1b[";
	wbuf_reset(&b);
	assert_int_equal(sc_status_encode(&b, &st), 0);
	assert_int_equal(sc_status_parse(b.data, b.len, &st2), SC_E_PROTOCOL);
	wbuf_free(&b);
}

static void
test_request_reply(void **state)
{
	struct sc_request r = { 5, SC_OP_CERTS, (const uint8_t *)"#room", 5 },
	    r2;
	struct sc_reply *rp;
	static struct sc_reply rpbuf;
	struct wbuf b;
	uint8_t der[300];

	(void)state;
	rp = &rpbuf;
	memset(der, 0x30, sizeof(der));
	wbuf_init(&b, SC_MAX_RECORD_PT);
	assert_int_equal(sc_request_encode(&b, &r), 0);
	assert_int_equal(sc_request_parse(b.data, b.len, &r2), 0);
	assert_int_equal(r2.op, SC_OP_CERTS);
	b.data[4] = SC_OP_MAX + 1;
	assert_int_equal(sc_request_parse(b.data, b.len, &r2), SC_E_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(sc_reply_encode_head(&b, 5, SC_OP_CERTS, 0, 2), 0);
	assert_int_equal(sc_reply_encode_item(&b, (const uint8_t *)"bob", 3,
	    der, sizeof(der)), 0);
	assert_int_equal(sc_reply_encode_item(&b, (const uint8_t *)"carol", 5,
	    der, 10), 0);
	assert_int_equal(sc_reply_parse(b.data, b.len, rp), 0);
	assert_int_equal(rp->n, 2);
	assert_int_equal(rp->item[0].datalen, sizeof(der));
	assert_memory_equal(rp->item[1].name, "carol", 5);
	/* A count larger than the items present, or than the cap. */
	assert_int_equal(sc_reply_parse(b.data, b.len - 1, rp), SC_E_PROTOCOL);
	b.data[7] = 0;
	b.data[8] = SC_MAX_REPLY_ITEMS + 1;
	assert_int_equal(sc_reply_parse(b.data, b.len, rp), SC_E_PROTOCOL);
	assert_int_equal(sc_reply_encode_head(&b, 1, 1, 0,
	    SC_MAX_REPLY_ITEMS + 1), -1);
	wbuf_free(&b);
}

static void
test_record_table(void **state)
{
	(void)state;
	assert_int_equal(sc_record_phase(SC_T_SEND), SC_PHASE_SESSION);
	assert_true(sc_record_dir_ok(SC_T_SEND, SC_DIR_C2S));
	assert_false(sc_record_dir_ok(SC_T_SEND, SC_DIR_S2C));
	assert_true(sc_record_dir_ok(SC_T_DELIVER, SC_DIR_S2C));
	assert_false(sc_record_dir_ok(SC_T_DELIVER, SC_DIR_C2S));
	assert_true(sc_record_in_transcript(SC_T_DELIVER));
	assert_true(sc_record_in_transcript(SC_T_CHAT));
	assert_false(sc_record_in_transcript(SC_T_CLOSE));
	assert_false(sc_record_in_transcript(SC_T_LOGIN));
	/* Every record's largest plaintext fits one frame once encrypted. */
	assert_true(SC_CT_LEN(sc_record_max_pt(SC_T_REPLY)) <= SC_MAX_CT);
	assert_true(SC_CT_LEN(sc_record_max_pt(SC_T_SEND)) <= SC_MAX_CT);
	assert_true(SC_CT_LEN(sc_record_max_pt(SC_T_DELIVER)) <= SC_MAX_CT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_deliver),
		cmocka_unit_test(test_sent_ack_status),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_record_table),
	};

	return cmocka_run_group_tests_name("proto_msg", tests, NULL, NULL);
}
