#!/bin/sh
# tests/run.sh: run every test program given on the command line, show
# its cmocka output, and close with one "N passed, N failed" line counted
# over all of them.  Exit status is non-zero when anything failed.
set -u
passed=0 failed=0 skipped=0 bad=""
SC_SRCDIR=$(pwd); export SC_SRCDIR
: "${BUILD:=build}"; export BUILD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	echo "=== $t"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -n 1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n 1)
	passed=$((passed + ${p:-0})); skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] || [ -z "$p" ]; then
		# A crash or a program that ran no test counts as one failure.
		failed=$((failed + ${f:-1})); bad="$bad $t"
	fi
done
[ -n "$bad" ] && echo "failed programs:$bad"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
