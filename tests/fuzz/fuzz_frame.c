/*
 * fuzz_frame.c: the frame decoder sc_frame_read() (common/proto.c) on a
 * real descriptor, then every payload parser a frame of that type meets.
 *
 * Input: the byte stream a peer sends, any number of frames.  It is
 * written into a pipe whose other end is read frame by frame, as the
 * worker and the client read their socket.  Properties:
 *  - each frame read is the header and payload found at that offset of
 *    the stream, with a known type and a length within SC_MAX_PAYLOAD;
 *  - a bad header fails with the code a reference check of the same 8
 *    bytes expects (magic PROTOCOL, version VERSION, length TOO_LARGE,
 *    type PROTOCOL, in that order), a truncated frame with no code;
 *  - the clean end of the stream is 0 only on a frame boundary;
 *  - sc_frame_write() of a frame read writes back exactly its bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz_payload.h"

/* Big enough for the largest frame, so one write never blocks. */
#define FRAME_PIPE_SZ	(1024 * 1024)

static int
frame_init(void)
{
	return 0;
}

/* The code a header must fail with (0: acceptable). */
static int
frame_ref_code(const uint8_t h[SC_HDR_LEN])
{
	uint32_t len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
	    (uint32_t)h[6] << 8 | h[7];

	if (h[0] != 'S' || h[1] != 'C')
		return SC_E_PROTOCOL;
	if (h[2] != 1)
		return SC_E_VERSION;
	if (len > 65536)
		return SC_E_TOO_LARGE;
	/* The list of types grows with the protocol: proto.c's table. */
	return sc_type_known(h[3]) ? 0 : SC_E_PROTOCOL;
}

static int
frame_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(p[1], F_SETPIPE_SZ, FRAME_PIPE_SZ) < FRAME_PIPE_SZ) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	return 0;
}

/* Write f with sc_frame_write and check the bytes against the stream. */
static void
frame_rewrite(const struct sc_frame *f, const uint8_t *at)
{
	uint8_t *back;
	size_t want = SC_HDR_LEN + f->len, got = 0;
	ssize_t r;
	int p[2];

	if (frame_pipe(p) == -1)
		return;
	if ((back = malloc(want)) == NULL)
		goto out;
	FUZZ_CHECK(sc_frame_write(p[1], 1000, f->type, f->payload,
	    f->len) == 0);
	close(p[1]);
	p[1] = -1;
	while (got < want && (r = read(p[0], back + got, want - got)) > 0)
		got += (size_t)r;
	FUZZ_CHECK(got == want && memcmp(back, at, want) == 0);
	FUZZ_CHECK(read(p[0], back, 1) == 0);
	free(back);
 out:
	close(p[0]);
	if (p[1] != -1)
		close(p[1]);
}

static int
frame_one(const uint8_t *data, size_t size)
{
	struct sc_frame f;
	size_t off = 0, left;
	int p[2], rc, code;

	/* The pipe must hold the whole stream: one frame and its header. */
	if (size > SC_HDR_LEN + SC_MAX_PAYLOAD + SC_HDR_LEN)
		return 0;
	if (frame_pipe(p) == -1)
		return 0;
	if (size > 0 && write(p[1], data, size) != (ssize_t)size) {
		close(p[0]);
		close(p[1]);
		return 0;
	}
	close(p[1]);
	for (;;) {
		left = size - off;
		errno = 0;
		rc = sc_frame_read(p[0], 1000, &f, &code);
		if (rc == 0) {
			FUZZ_CHECK(left == 0);
			break;
		}
		if (rc == -1) {
			FUZZ_CHECK(f.payload == NULL && f.len == 0);
			if (left < SC_HDR_LEN)
				FUZZ_CHECK(left > 0 && code == 0);
			else if (frame_ref_code(data + off) != 0)
				FUZZ_CHECK(code == frame_ref_code(data + off));
			else
				/* A good header, then too few payload bytes. */
				FUZZ_CHECK(code == 0);
			break;
		}
		/* Stop at the first wrong frame: off would be meaningless. */
		if (rc != 1 || left < SC_HDR_LEN ||
		    frame_ref_code(data + off) != 0 ||
		    f.type != data[off + 3] || f.len > SC_MAX_PAYLOAD ||
		    SC_HDR_LEN + f.len > left ||
		    (f.len == 0) != (f.payload == NULL) ||
		    (f.len > 0 && memcmp(f.payload, data + off + SC_HDR_LEN,
		    f.len) != 0)) {
			fuzz_fail(__FILE__, __LINE__, "frame read is not the "
			    "frame sent");
			sc_frame_free(&f);
			break;
		}
		fz_parse_frame(f.type, f.payload, f.len);
		frame_rewrite(&f, data + off);
		off += SC_HDR_LEN + f.len;
		sc_frame_free(&f);
	}
	close(p[0]);
	return 0;
}

#ifndef FUZZ_REPLAY
FUZZ_MAIN(frame_init, frame_one)
#endif
