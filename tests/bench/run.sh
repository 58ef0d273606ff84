#!/bin/sh
# tests/bench/run.sh: `make bench`.  Builds the load generator
# tests/bench/scbench.c with the Makefile's own rule and flags (the test
# rule $(BUILD)/tests/%), then runs it once: a whole installation on
# loopback, the machine's reference figures in the same run, one table
# (docs/PERFORMANCE.md says how to read it).  A benchmark, not a test:
# the figures never fail the run; only a broken set-up does.
#
#   BUILD=build sh tests/bench/run.sh [-q] [-n sessions] [-P phases] [-T s]
#     -q   short runs (about a minute) to check the harness itself
#     -P   only some phases (cold,startup,kdf,hs,speed,echo,relay,held)
#     -T   every timed run this long, e.g. to profile it with perf
#
# The table is printed and written to $BUILD/bench/results.md.
set -eu
: "${BUILD:=build}"
SC_SRCDIR=$(pwd); export SC_SRCDIR BUILD

# The router too: messages between online users go through it (relay).
make --no-print-directory BUILD="$BUILD" "$BUILD/bin/securechatd" \
    "$BUILD/bin/keyd" "$BUILD/bin/authd" "$BUILD/bin/router" \
    "$BUILD/bin/session" \
    "$BUILD/bin/sc-admin"
# The reference TLS client in scbench uses libssl: only this program links
# it, never the product (built above without it).  LDLIBS from the
# environment is the initial value the Makefile's "LDLIBS +=" appends to.
ssl_libs=$(pkg-config --libs libssl 2>/dev/null || echo -lssl)
LDLIBS="$ssl_libs" make --no-print-directory BUILD="$BUILD" \
    "$BUILD/tests/bench/scbench"

# 1,000 held sessions: a socket each here, two descriptors each in the
# master (it raises its own soft limit from the hard one).
[ "$(ulimit -n)" -ge 4096 ] 2>/dev/null || ulimit -n 4096 2>/dev/null || true

if [ "$(id -u)" != 0 ]; then
	echo "bench: not root: the daemons run without the user switch and" \
	    "chroot (development mode); figures are not the production set-up"
fi
mkdir -p "$BUILD/bench"
exec "$BUILD/tests/bench/scbench" -o "$BUILD/bench/results.md" "$@"
