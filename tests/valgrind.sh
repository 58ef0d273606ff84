#!/bin/sh
# tests/valgrind.sh: run every unit test program (tests/unit/test_*) of
# $BUILD under valgrind's memcheck, and fail when a test fails or
# valgrind finds a memory error or a definite or indirect leak.  Programs
# the tests start (sc-admin, keyd, ...) run natively: they have their own
# LeakSanitizer run in `make SANITIZE=1 check`.
#
#	BUILD=build sh tests/valgrind.sh [program...]
#
# Needs a normal (not SANITIZE=1) build: `make test-bins` first.
set -u
: "${BUILD:=build}"
export BUILD
SC_SRCDIR=$(pwd); export SC_SRCDIR
# valgrind is slow; the tests' own timeouts are generous already.
VG_ERR=99

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind is missing; as root run:"
	echo "  apt-get install -y --no-install-recommends valgrind"
	exit 1
fi
case $BUILD in
*-san) echo "valgrind.sh: $BUILD is an ASan build; use a normal build"
	exit 1 ;;
esac

if [ $# -gt 0 ]; then
	progs="$*"
else
	progs=$(ls "$BUILD"/tests/unit/test_* 2>/dev/null | grep -v '\.d$')
fi
[ -n "$progs" ] || { echo "valgrind.sh: no unit test in $BUILD"; exit 1; }

log=$(mktemp "${TMPDIR:-/tmp}/sc-valgrind.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT INT TERM
bad="" n=0
for t in $progs; do
	n=$((n + 1))
	start=$(date +%s)
	valgrind -q --tool=memcheck --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect \
	    --show-leak-kinds=definite,indirect --track-origins=yes \
	    --error-exitcode=$VG_ERR --trace-children=no \
	    --log-fd=9 "$t" 9>"$log.vg" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	errs=$(grep -c '^==[0-9]*== ' "$log.vg")
	if [ "$rc" -eq 0 ]; then
		res=ok
	elif [ "$rc" -eq "$VG_ERR" ]; then
		res="VALGRIND ERRORS"
	else
		res="TEST FAILED (exit $rc)"
	fi
	printf '%-40s %5ss  %s\n' "$t" "$secs" "$res"
	if [ "$rc" -ne 0 ]; then
		bad="$bad $t"
		[ "$errs" -gt 0 ] && sed 's/^/    /' "$log.vg" | head -n 80
		[ "$rc" -ne "$VG_ERR" ] && grep -E 'FAILED|Error|error' \
		    "$log" | head -n 20 | sed 's/^/    /'
	fi
	rm -f "$log.vg"
done
if [ -n "$bad" ]; then
	echo "valgrind: failures in:$bad"
	exit 1
fi
echo "valgrind: $n unit test programs clean (no errors, no definite or indirect leaks)"
