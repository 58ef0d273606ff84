/*
 * sc-admin.c: entry point of the administration tool; dispatches to one
 * subcommand per area (pki, receipt, db, user).
 */
#include "sc-admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct subcommand {
	const char	*name;
	int		(*main)(int, char **);
	const char	*help;
} subcommands[] = {	/* sorted by name */
	{ "db", db_main, "database schema: init, status" },
	{ "pki", pki_main, "certificate authority: init-ca, issue, inspect, verify, revoke, crl" },
	{ "receipt", receipt_main, "session receipts: verify a receipt against its transcript" },
	{ "user", user_main, "accounts: list, disable, enable, delete, import-legacy, add-cert" },
};

static void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: sc-admin command [args ...]\ncommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(stderr, "  %-8s %s\n", subcommands[i].name,
		    subcommands[i].help);
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init(1, 0, 0);
	log_procinit("sc-admin");
	if (argc < 2)
		usage();
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "sc-admin: unknown command '%s'\n", argv[1]);
	usage();
}
