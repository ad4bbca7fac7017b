#!/usr/bin/env bash
# Runs every test: unit tests (plain and ASan+UBSan builds), then the
# end-to-end scripts with the plain generator and again with the
# sanitizer build. Each test prints "PASS name" or "FAIL name: why";
# this script counts them and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export ROOT
pass=0 fail=0
failures=()
# Sanitizers: stop at the first error, report leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ONLY=${TEST_ONLY:-}

# Read a test program's output; count its PASS/FAIL lines.
count() {
	local label=$1 status=$2 out=$3 seen=0 line
	while IFS= read -r line; do
		case $line in
		PASS\ *) pass=$((pass + 1)); seen=1; echo "PASS $label: ${line#PASS }" ;;
		FAIL\ *) fail=$((fail + 1)); seen=1; failures+=("$label: ${line#FAIL }"); echo "FAIL $label: ${line#FAIL }" ;;
		SKIP\ *) echo "SKIP $label: ${line#SKIP }" ;;
		*) [ -n "${VERBOSE:-}" ] && echo "  $line" ;;
		esac
	done <<<"$out"
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
		fail=$((fail + 1))
		failures+=("$label: exited with status $status")
		echo "FAIL $label: exited with status $status"
		echo "$out" | tail -20 | sed 's/^/  | /'
	elif [ $seen = 0 ] && [ "$status" -eq 0 ]; then
		fail=$((fail + 1))
		failures+=("$label: ran no check")
		echo "FAIL $label: ran no check"
	fi
}

# A wall-clock limit per test program, so that a hung build fails the
# run instead of stalling CI (FAZHI_TEST_TIMEOUT seconds, default 1800).
LIMIT=${FAZHI_TEST_TIMEOUT:-1800}

run() {
	local label=$1; shift
	local out status
	out=$(timeout -k 30 "$LIMIT" "$@" 2>&1); status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		out="$out
FAIL timed out after ${LIMIT} s (a hung build or test)"
	fi
	count "$label" "$status" "$out"
}

for kind in unit unit-asan; do
	for t in build/$kind/test_*; do
		[ -x "$t" ] || continue
		[ -n "$ONLY" ] && [[ $t != *$ONLY* ]] && continue
		run "$kind/$(basename "$t")" "$t"
	done
	# SHA-256 again without the x86 SHA extensions: the portable C.
	if [ -x "build/$kind/test_util" ] && { [ -z "$ONLY" ] || [[ test_util == *$ONLY* ]]; }; then
		run "$kind/test_util (FAZHI_NO_SHA_NI=1)" env FAZHI_NO_SHA_NI=1 "build/$kind/test_util"
	fi
done

for script in tests/e2e/*.sh; do
	[ -f "$script" ] || continue
	name=$(basename "$script" .sh)
	[ -n "$ONLY" ] && [[ $name != *$ONLY* ]] && continue
	FAZHI=$ROOT/generator/fazhi run "e2e/$name" bash "$script"
	# The browser suite checks the pages, not the generator's memory safety.
	case $name in browser|bench*) continue ;; esac
	FAZHI=$ROOT/build/asan/fazhi run "e2e-asan/$name" bash "$script"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "Failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
