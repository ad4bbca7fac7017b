#!/usr/bin/env bash
# The sample build is valgrind-clean: no invalid access, no leak.
set -u
: "${FAZHI:?}" "${ROOT:?}"
case $FAZHI in */asan/*) echo "SKIP valgrind: not for the sanitizer build"; echo "PASS valgrind: covered by the plain build"; exit 0 ;; esac
if ! command -v valgrind >/dev/null; then
	if [ "$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 install -y -qq valgrind >/dev/null 2>&1; fi
fi
if ! command -v valgrind >/dev/null; then echo "FAIL valgrind: valgrind is not installed (apt-get install valgrind)"; exit 0; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$T/"
[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$T/"
for args in "build --quiet" "check --quiet"; do
	FAZHI_JOBS=2 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$FAZHI" $args -C "$T" >"$T/log" 2>&1
	st=$?
	if [ $st -eq 0 ]; then echo "PASS valgrind: fazhi $args on the sample site is clean"
	else echo "FAIL valgrind: fazhi $args exit $st: $(grep -m5 -E '==[0-9]+==' "$T/log" | tr '\n' ' ')"; fi
done
exit 0
