/*
 * sc-admin.h: the administration tool's subcommands.  Each NAME_main()
 * receives argv starting at its own name ("pki", "db", ...).
 */
#ifndef SC_ADMIN_H
#define SC_ADMIN_H

int	db_main(int argc, char **argv);
int	pki_main(int argc, char **argv);
int	receipt_main(int argc, char **argv);
int	user_main(int argc, char **argv);

#endif
