/*
 * capture.h: a loopback relay in front of the daemon that keeps a copy of
 * every byte of one connection, both ways: what a network observer sees.
 */
#ifndef SC_TU_CAPTURE_H
#define SC_TU_CAPTURE_H

#include <pthread.h>
#include <stddef.h>

struct capture {
	int		 lfd;
	int		 port;		/* connect here instead of target */
	int		 target;	/* the daemon's port */
	char		*bytes;		/* everything relayed */
	size_t		 len;
	pthread_t	 thread;
};

/* Listen on a free loopback port and relay one connection to target. */
int	capture_start(struct capture *, int target);
/* Wait for that connection to end; the bytes stay until capture_free. */
void	capture_wait(struct capture *);
void	capture_free(struct capture *);

#endif
