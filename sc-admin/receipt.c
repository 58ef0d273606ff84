/*
 * receipt.c: `sc-admin receipt verify`: check a session receipt offline
 * against the transcript it covers (docs/PROTOCOL.md §5.5).
 *
 *	sc-admin receipt verify --transcript T --receipt R --cert C --ca CA
 *	    [--crl CRL] [--peer-cert P] [--json]
 *
 * Exit status 0 when the receipt is valid, 1 when it is not (the reason is
 * printed), 2 on a usage error.
 */
#include "sc-admin.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "transcript.h"

static int
receipt_usage(void)
{
	fprintf(stderr, "usage: sc-admin receipt verify --transcript file "
	    "--receipt file --cert signer.pem\n"
	    "           --ca ca.pem [--crl crl.pem] [--peer-cert peer.pem] "
	    "[--json]\n");
	return 2;
}

static int
receipt_verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "crl", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "peer-cert", required_argument, NULL, 'p' },
		{ "receipt", required_argument, NULL, 'r' },
		{ "transcript", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ca = NULL, *cert = NULL, *crl = NULL, *peer = NULL;
	const char *receipt = NULL, *transcript = NULL;
	char reason[512];
	json_t *o;
	char *s;
	int ch, json = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			ca = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			crl = optarg;
			break;
		case 'p':
			peer = optarg;
			break;
		case 'r':
			receipt = optarg;
			break;
		case 't':
			transcript = optarg;
			break;
		default:
			return receipt_usage();
		}
	}
	if (optind != argc || ca == NULL || cert == NULL || receipt == NULL ||
	    transcript == NULL)
		return receipt_usage();

	rc = receipt_verify(transcript, receipt, cert, ca, crl, peer, reason,
	    sizeof(reason));
	if (json) {
		o = json_pack("{s:b, s:s}", "valid", rc == 0, "reason", reason);
		if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
			json_decref(o);
			fprintf(stderr, "sc-admin receipt: out of memory\n");
			return 1;
		}
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else if (rc == 0)
		printf("receipt OK: %s\n", reason);
	else
		printf("receipt INVALID: %s\n", reason);
	return rc == 0 ? 0 : 1;
}

int
receipt_main(int argc, char **argv)
{
	if (argc < 2)
		return receipt_usage();
	if (strcmp(argv[1], "verify") == 0)
		return receipt_verify_main(argc - 1, argv + 1);
	fprintf(stderr, "sc-admin receipt: unknown command '%s'\n", argv[1]);
	return receipt_usage();
}
