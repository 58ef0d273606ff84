/*
 * sc-client.h: what the parts of sc-client share.
 *
 *	sc-client.c	main: options, configuration, password, register or
 *			login, the close with receipts
 *	ui.c		the session loop: poll() over the terminal and the
 *			connection, commands, printing
 *	msg.c		messaging: certificates and pinning, sealing and
 *			opening envelopes, requests and their answers
 *	cmd.c		parsing a typed line into a command (pure)
 *	store.c		local files: known_peers, history, replay state (pure)
 *	verify.c	`sc-client verify`: re-check a history file offline
 *
 * cmd.c and store.c use nothing from the other files, so that
 * tests/unit/test_client_store.c can include them.
 */
#ifndef SC_CLIENT_H
#define SC_CLIENT_H

#include <sys/queue.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "csession.h"
#include "envelope.h"

/* ---- cmd.c: one typed line ---- */

enum cmd_kind {
	CMD_NONE = 0,	/* empty line */
	CMD_TEXT,	/* a plain line: to the current target (or echo) */
	CMD_MSG,	/* /msg TARGET text, @USER text */
	CMD_JOIN,
	CMD_LEAVE,
	CMD_TO,		/* target "" clears it */
	CMD_WHO,
	CMD_ROOMS,
	CMD_MEMBERS,
	CMD_HISTORY,
	CMD_TRUST,
	CMD_FP,		/* target "" means me */
	CMD_HELP,
	CMD_EXIT,
	CMD_ERROR	/* error says why; nothing is to be sent */
};

#define CMD_HISTORY_DEFAULT	20
#define CMD_HISTORY_MAX		1000

struct client_cmd {
	enum cmd_kind	 kind;
	char		 target[ENV_MAX_CONV + 1];	/* user or #room */
	const char	*text;		/* points into the parsed line */
	size_t		 textlen;
	unsigned int	 n;		/* /history count */
	const char	*error;		/* CMD_ERROR: a static message */
};

/*
 * Parse one line (NUL-terminated, without its newline).  Names are folded
 * to lower case and checked (a user: PROTOCOL.md §3.5; a room: '#' and a
 * user name); text is not checked here (envelope_seal and the CHAT
 * encoder do).  A line starting with "//" is the text after the first
 * '/'.  Returns the kind (also in c->kind).
 */
enum cmd_kind cmd_parse(const char *line, struct client_cmd *c);
/* Fold a user or room name (len bytes) to canonical form; 0 or -1. */
int	cmd_canon_target(const char *in, size_t len, char *out, size_t outsz);
/* The help text, one command per line. */
extern const char *const cmd_help[];

/* ---- store.c: the per-user state directory ---- */

struct client_paths {
	char	dir[PATH_MAX];		/* STATE/USER */
	char	pins[PATH_MAX];		/* STATE/USER/known_peers */
	char	history[PATH_MAX];	/* STATE/USER/history */
	char	replay[PATH_MAX];	/* STATE/USER/replay-FP16 */
	char	lock[PATH_MAX];		/* STATE/USER/lock */
};

/* Fill p for user and my certificate's fingerprint; 0 or -1 (too long). */
int	store_paths(const char *state_dir, const char *user,
	    const uint8_t fp[ENV_FP_LEN], struct client_paths *p);
/* Create dir (and parents) mode 0700; 0 or -1 with errno. */
int	store_mkdir(const char *dir);
/*
 * Take the directory's lock (flock on lockpath, created 0600): files are
 * read, merged and replaced under it so that two clients of one user do
 * not lose each other's entries.  Returns the descriptor or -1.
 */
int	store_lock(const char *lockpath);
void	store_unlock(int fd);

/* "SHA256:" and 64 hex digits. */
#define STORE_FP_STR_LEN	(7 + 2 * ENV_FP_LEN + 1)
void	store_fp_str(const uint8_t fp[ENV_FP_LEN], char out[STORE_FP_STR_LEN]);

/* known_peers: "user hex-sha256\n", one line per (user, certificate). */
#define PINS_MAX		65536
#define PINS_LINE_MAX		(ENV_MAX_NAME + 1 + 2 * ENV_FP_LEN + 1)

struct pin {
	char	 user[ENV_MAX_NAME + 1];
	uint8_t	 fp[ENV_FP_LEN];
};

struct pinstore {
	struct pin	*v;
	size_t		 n, cap;
};

enum pin_state {
	PIN_KNOWN = 0,	/* this certificate is pinned for the user */
	PIN_FIRST,	/* nothing pinned for the user yet */
	PIN_CHANGED	/* other certificates are pinned, not this one */
};

void	pins_init(struct pinstore *);
void	pins_free(struct pinstore *);
/* Strict: any malformed line fails the whole load; missing: empty. */
int	pins_load(struct pinstore *, const char *path, char *reason,
	    size_t reasonlen);
/* Replace path atomically, mode 0600. */
int	pins_save(const struct pinstore *, const char *path);
enum pin_state pins_check(const struct pinstore *, const char *user,
	    const uint8_t fp[ENV_FP_LEN]);
/* 0 (also when already there) or -1 (bad name, full). */
int	pins_add(struct pinstore *, const char *user,
	    const uint8_t fp[ENV_FP_LEN]);
/* Up to max pins of user into out; returns how many the user has. */
size_t	pins_of(const struct pinstore *, const char *user,
	    const struct pin **out, size_t max);
/* Under the lock: add the file's pins to ours, then save the union. */
int	pins_persist(struct pinstore *, const char *path, const char *lockpath,
	    char *reason, size_t reasonlen);

/* Replay state: merge the file's counters (the higher wins), then save. */
int	replay_merge(struct env_replay *dst, const struct env_replay *src);
int	replay_persist(struct env_replay *, const char *path,
	    const char *lockpath, char *reason, size_t reasonlen);

/*
 * History: one line per message,
 *	time_ms|dir|conv|sender|msg_id|text|key|envelope\n
 * (docs/man/sc-client.1, FILES).
 */
enum hist_dir {
	HIST_IN = 1,	/* received, verified, shown */
	HIST_OUT,	/* sent, stored by the server */
	HIST_REJ	/* received and rejected; text is the reason */
};

/* A maximal line: escaped text and a base64 envelope dominate. */
#define HIST_TEXT_MAX		ENV_MAX_BODY
#define HIST_LINE_MAX		(20 + 1 + 3 + 1 + ENV_MAX_CONV + 1 + \
				    ENV_MAX_NAME + 1 + 20 + 1 + \
				    4 * HIST_TEXT_MAX + 1 + 2 * ENV_KEY_LEN + \
				    1 + (SC_MAX_ENVELOPE + 2) / 3 * 4 + 1)

struct hist_entry {
	uint64_t	 time_ms;
	enum hist_dir	 dir;
	char		 conv[ENV_MAX_CONV + 1];	/* "-": unknown (rej) */
	char		 sender[ENV_MAX_NAME + 1];	/* "-": unknown (rej) */
	uint64_t	 msg_id;
	/*
	 * hist_format() reads the caller's bytes; hist_parse() allocates
	 * them (text NUL-terminated) and hist_entry_clear() frees them.
	 */
	uint8_t		*text;
	size_t		 textlen;
	int		 have_key;
	uint8_t		 key[ENV_KEY_LEN];	/* content key, "-" if none */
	uint8_t		*env;
	size_t		 envlen;
};

const char *hist_dir_name(enum hist_dir);
/* Escape: '\\', '|', bytes below 0x20 and 0x7f become \xHH. */
int	hist_escape(struct wbuf *, const uint8_t *, size_t);
/* Strict inverse; out gets at most cap bytes.  0 or -1. */
int	hist_unescape(const char *, size_t, uint8_t *out, size_t cap,
	    size_t *outlenp);
/* Append one line (with its newline) to out.  0 or -1. */
int	hist_format(struct wbuf *out, const struct hist_entry *);
/*
 * Parse one line (without its newline); want_env 0 skips decoding the
 * envelope (e->env stays NULL).  0 or -1 with reason.
 */
int	hist_parse(const char *line, size_t len, struct hist_entry *,
	    int want_env, char *reason, size_t reasonlen);
void	hist_entry_clear(struct hist_entry *);
/* Open for appending (created 0600; an existing file is set to 0600). */
int	hist_open(const char *path);
/* One write(2) of the whole line, then fdatasync.  0 or -1. */
int	hist_append(int fd, const struct hist_entry *);

/* Read a history file line by line (bounded lines). */
struct hist_reader {
	FILE	*f;
	char	*buf;		/* HIST_LINE_MAX + 2 bytes */
	size_t	 lineno;
};
int	hist_reader_open(struct hist_reader *, const char *path);
/*
 * Next line into *linep and *lenp (NUL-terminated, newline removed): 1, 0 at
 * the end, -1 on a read error; a line too long is returned with *lenp
 * set to (size_t)-1 and skipped.
 */
int	hist_reader_next(struct hist_reader *, const char **linep,
	    size_t *lenp);
void	hist_reader_close(struct hist_reader *);

/* ---- msg.c and ui.c: one logged-in session ---- */

/* Certificates of one user or one room, as the server listed them. */
struct certent {
	char		 name[ENV_MAX_NAME + 1];
	X509		*cert;
	uint8_t		 fp[ENV_FP_LEN];
};

struct certset {
	TAILQ_ENTRY(certset)	 entry;
	char			 target[ENV_MAX_CONV + 1];
	struct certent		*v;
	size_t			 n;
};

/* A line waiting for the certificates of its target. */
struct outmsg {
	TAILQ_ENTRY(outmsg)	 entry;
	char			 target[ENV_MAX_CONV + 1];
	char			*text;
	size_t			 len;
};

/* A REQUEST waiting for its REPLY. */
struct pendreq {
	TAILQ_ENTRY(pendreq)	 entry;
	uint32_t		 ref;
	uint8_t			 op;
	char			 arg[ENV_MAX_CONV + 1];
};

/* A SEND waiting for its SENT. */
struct pendsend {
	TAILQ_ENTRY(pendsend)	 entry;
	uint32_t		 ref;
	char			 target[ENV_MAX_CONV + 1];
	char			*text;
	size_t			 len;
	uint8_t			*env;
	size_t			 envlen;
};

/* A certificate seen for a pinned user that is not pinned for them. */
struct pendpin {
	TAILQ_ENTRY(pendpin)	 entry;
	char			 user[ENV_MAX_NAME + 1];
	uint8_t			 fp[ENV_FP_LEN];
};

/* Most lines and requests in flight at once (a paste, a script). */
#define CLIENT_MAX_PENDING	1024

struct client {
	struct csession		*cs;
	struct env_identity	 id;
	const struct pki_trust	*trust;
	char			 me[ENV_MAX_NAME + 1];
	uint8_t			 my_fp[ENV_FP_LEN];
	struct client_paths	 paths;
	struct env_replay	 replay;
	struct pinstore		 pins;
	int			 hist_fd;
	TAILQ_HEAD(, certset)	 certs;
	TAILQ_HEAD(, outmsg)	 queue;
	TAILQ_HEAD(, pendreq)	 reqs;
	TAILQ_HEAD(, pendsend)	 sends;
	TAILQ_HEAD(, pendpin)	 pend;
	size_t			 nqueue, nreqs, nsends;
	unsigned int		 echo_pending;	/* CHATs not yet answered */
	uint32_t		 next_ref;
	char			 target[ENV_MAX_CONV + 1];	/* "" echo */
	int			 interactive;	/* stdin is a terminal */
	int			 redraw;	/* and stdout too */
	int			 prompt_shown;
};

/* msg.c */
/* Before connecting: the state directory's files.  0 or -1 (reason). */
int	msg_init(struct client *, const char *state_dir, const char *user,
	    X509 *cert, char *reason, size_t reasonlen);
/* After login: the session and my identity in it. */
void	msg_attach(struct client *, struct csession *);
void	msg_free(struct client *);
/* Each returns -1 only when the session failed (cs->err says why). */
int	msg_send_text(struct client *, const char *target, const char *text,
	    size_t len);
int	msg_echo(struct client *, const char *text, size_t len);
int	msg_request(struct client *, uint8_t op, const char *arg);
void	msg_trust(struct client *, const char *user);
void	msg_show_fp(struct client *, const char *user);
void	msg_history(struct client *, const char *conv, unsigned int n);
int	msg_event(struct client *, struct cs_event *);
/* Anything sent that is not answered yet. */
int	msg_busy(const struct client *);

/* ui.c */
/* One line for the user (a newline is added), keeping the prompt. */
void	ui_printf(struct client *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * The session until /exit, the end of input or a signal (0), or until the
 * session fails (-1, cs->err says why).
 */
int	ui_run(struct client *);

/* verify.c */
int	verify_main(const char *history, const char *ca, const char *crl,
	    int at_sent);

#endif
