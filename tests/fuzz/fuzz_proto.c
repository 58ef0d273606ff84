/*
 * fuzz_proto.c: the SecureChat v1 payload parsers of common/proto.c
 * (handshake messages, records, plaintext bodies, ERROR) and the content
 * checks, one parser per input.
 *
 * Input: one selector byte (which parser, modulo their number), then the
 * payload.  libFuzzer hands over an exact-size heap copy, so a parser
 * that reads past the payload's end lands in an ASan redzone.  The
 * properties checked are in fuzz_payload.h.
 */
#include "fuzz_payload.h"

static int
proto_init(void)
{
	return 0;
}

static int
proto_one(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > SC_MAX_PAYLOAD)
		return 0;
	fz_parse_one((enum fz_parser)(data[0] % FZ_NPARSERS), data + 1,
	    size - 1);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(proto_init, proto_one)
#endif
