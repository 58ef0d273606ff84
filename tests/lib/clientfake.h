/*
 * clientfake.h: a small, honest-by-default messaging server for testing
 * sc-client's side of PROTOCOL.md §8 without the daemon: the real
 * handshake, login (any password), session records, transcript and signed
 * receipt (so that the client closes normally), the echo service, and
 * messaging in memory: SEND is answered with SENT and the envelope is
 * delivered to every connection of every user it names (or kept for them
 * until they log in), ACKs become STATUS for the sender, REQUEST CERTS /
 * JOIN / LEAVE / WHO / ROOMS / MEMBERS are answered from a certificate
 * registry the test fills and from rooms kept in memory.
 *
 * Being a test double, it can also misbehave on purpose: hand out a
 * substituted certificate (cfake_set_certs), alter an envelope on its
 * way (tamper), deliver one twice (replay_next).  One thread serves every
 * connection; the test talks to the clients with clientdrv.h.
 */
#ifndef SC_TU_CLIENTFAKE_H
#define SC_TU_CLIENTFAKE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CFAKE_MAX_CONN		16
#define CFAKE_MAX_USERS		16
#define CFAKE_MAX_CERTS		4	/* per user */
#define CFAKE_MAX_ROOMS		8
#define CFAKE_MAX_MSGS		256

struct cfake;

/*
 * Called with each envelope before it is delivered to user (env is a
 * private copy, of at most *lenp + 64 bytes of room); it may change the
 * bytes and *lenp.  Returns 1 to deliver, 0 to drop.
 */
typedef int (*cfake_tamper_fn)(struct cfake *, const char *user,
	    uint8_t *env, size_t *lenp);

struct cfake_conn;

struct cfake {
	/* Set by the test before cfake_start. */
	const char	*dir;		/* server transcripts go here */
	const char	*cert_path;	/* server certificate and key */
	const char	*key_path;
	/* Set when no message is on its way (the server thread reads them). */
	cfake_tamper_fn	 tamper;
	int		 replay_next;	/* deliver the next envelope twice */
	int		 refuse_next;	/* answer the next SEND with this code */
	/* Results. */
	int		 port;
	unsigned int	 nsend;		/* SENDs accepted */
	unsigned int	 nack;		/* ACKs received */
	/* Internal. */
	pthread_mutex_t	 mu;
	pthread_t	 th;
	int		 running, stop, lfd;
	X509		*cert;
	EVP_PKEY	*key;
	uint8_t		 fp[32];
	struct cfake_state *st;
};

/* Load the identity, listen on a free loopback port, serve in a thread. */
int	cfake_start(struct cfake *);
/* Stop serving, close every connection, free everything. */
void	cfake_stop(struct cfake *);
/*
 * The certificates the server lists for user (PEM files, NULL-terminated;
 * an empty list forgets the user).  0 or -1.
 */
int	cfake_set_certs(struct cfake *, const char *user, ...)
	    __attribute__((sentinel));
/* Number of connections logged in as user right now. */
int	cfake_online(struct cfake *, const char *user);

#endif
