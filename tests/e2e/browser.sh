#!/usr/bin/env bash
# browser.sh: the headless-browser suite.  Builds the sample site with
# $FAZHI into a temporary directory, installs what is missing (Debian's
# chromium and fonts-noto-cjk when root; the npm packages pinned in
# tests/browser/package-lock.json with `npm ci`), then runs
# tests/browser/contrast.mjs (the palettes' measured contrast) and
# tests/browser/run.mjs (modes, axe-core, html-validate, console errors,
# JavaScript off, screenshots).  Prints PASS/FAIL/SKIP lines.
#
# Env: FAZHI, ROOT (from tests/run.sh); BROWSER_SHOTS, where screenshots
# go (default $ROOT/tests/out/screenshots, which git ignores).
set -u
: "${FAZHI:?FAZHI must name the fazhi binary}" "${ROOT:?ROOT must name the repository}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
HERE=$ROOT/tests/browser
SHOTS=${BROWSER_SHOTS:-$ROOT/tests/out/screenshots}
CHROMIUM=/usr/bin/chromium
APT="apt-get -o DPkg::Lock::Timeout=600 install -y"

loud() {
	{
		echo
		echo "************************************************************"
		echo "*** browser suite: $*"
		echo "************************************************************"
		echo
	} >&2
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	loud "node and npm are not installed: every browser check is SKIPPED"
	echo "SKIP browser suite: node and npm are not installed"
	exit 0
fi

# Chromium and the CJK fonts (without them Chinese renders as boxes).
need=()
[ -x "$CHROMIUM" ] || need+=(chromium)
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed' ||
    need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		if ! $APT "${need[@]}" >"$TMP/apt.log" 2>&1; then
			apt-get update -qq >>"$TMP/apt.log" 2>&1
			$APT "${need[@]}" >>"$TMP/apt.log" 2>&1 ||
			    echo "FAIL install ${need[*]}: $(tail -1 "$TMP/apt.log")"
		fi
	else
		loud "not root, cannot install ${need[*]}: browser checks SKIPPED (run as root, or apt-get install chromium fonts-noto-cjk)"
	fi
fi

# npm packages, reinstalled when package-lock.json changed since the last
# `npm ci` (npm keeps a copy of the lock it installed in node_modules).
if ! cmp -s "$HERE/package-lock.json" "$HERE/node_modules/.fazhi-lock.json"; then
	if (cd "$HERE" && npm ci --no-audit --no-fund) >"$TMP/npm.log" 2>&1; then
		cp "$HERE/package-lock.json" "$HERE/node_modules/.fazhi-lock.json"
	else
		echo "FAIL npm ci in tests/browser: $(grep -m1 -i 'err' "$TMP/npm.log" || tail -1 "$TMP/npm.log")"
		exit 1
	fi
fi

node "$HERE/contrast.mjs" "$ROOT/themes/default/static"
status=$?

if ! "$FAZHI" build -C "$ROOT" -o "$TMP/site" --quiet 2>"$TMP/build.err"; then
	echo "FAIL build of the sample site: $(head -3 "$TMP/build.err" | tr '\n' ' ')"
	exit 1
fi

node "$HERE/run.mjs" --site "$TMP/site" --screenshots "$SHOTS" --chromium "$CHROMIUM" ||
    status=1
exit $status
