#!/bin/sh
# tests/fuzz/run.sh: run every libFuzzer harness built by `make fuzz` for
# FUZZ_TIME seconds, starting from its checked-in corpus
# (tests/fuzz/corpus/NAME/: seeds and regression inputs, all replayed
# first).  New inputs go to a scratch directory, not into the tree; a
# crash is kept in $FUZZ_BUILD/artifacts/ for the developer to fix and
# then check in as corpus/NAME/regress-WHAT.  Prints one line per harness
# (executions, exec/s, coverage) and exits non-zero if any harness found
# a crash, a leak, a timeout or a failed property.
#
#	FUZZ_BUILD=build-fuzz FUZZ_TIME=60 sh tests/fuzz/run.sh [NAME...]
set -u
: "${FUZZ_BUILD:=build-fuzz}"
: "${FUZZ_TIME:=60}"
src=$(cd "$(dirname "$0")" && pwd)
art=$FUZZ_BUILD/artifacts
mkdir -p "$art"
# The file-based harnesses (dbconf, transcript, receipt) write a file per
# input: keep their scratch files in memory when the machine allows.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	TMPDIR=/dev/shm; export TMPDIR
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/sc-fuzz-run.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

if [ $# -gt 0 ]; then
	names="$*"
else
	names=$(for b in "$FUZZ_BUILD"/fuzz_*; do
		[ -x "$b" ] && echo "${b##*/fuzz_}"; done)
fi
[ -n "$names" ] || { echo "run.sh: no harness in $FUZZ_BUILD (make fuzz)"; exit 1; }

# Longest input worth trying, per harness: the largest thing its parser
# can be handed (a frame stream, a 32 KiB IPC message or config file).
max_len() {
	case $1 in
	frame)		echo 65560 ;;
	router)		echo 66000 ;;
	envelope)	echo 51000 ;;
	keyd|authd|conf) echo 33000 ;;
	cert)		echo 8200 ;;
	transcript)	echo 16384 ;;
	receipt)	echo 17000 ;;
	*)		echo 8192 ;;
	esac
}

bad=""
printf '%-12s %10s %9s %6s %6s  %s\n' harness execs exec/s cov ft result
for n in $names; do
	bin=$FUZZ_BUILD/fuzz_$n
	log=$work/$n.log
	mkdir -p "$work/$n"
	# -close_fd_mask=2: the product code logs each rejected input to
	# stderr; crash reports still arrive (libFuzzer keeps a copy).
	"$bin" -max_total_time="$FUZZ_TIME" -timeout=25 -rss_limit_mb=2560 \
	    -max_len="$(max_len "$n")" -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$art/$n-" "$work/$n" "$src/corpus/$n" \
	    >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		res=ok
	else
		res="FAILED (exit $rc)"
		bad="$bad $n"
	fi
	printf '%-12s %10s %9s %6s %6s  %s\n' "$n" "${execs:-?}" "${eps:-?}" \
	    "${cov:-?}" "${ft:-?}" "$res"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|property|^    #[0-9]|Test unit written' \
		    "$log" | head -n 40 | sed 's/^/    /'
	fi
done
if [ -n "$bad" ]; then
	echo "fuzz: failures in:$bad (inputs in $art/)"
	exit 1
fi
echo "fuzz: every harness ran ${FUZZ_TIME}s without a finding"
