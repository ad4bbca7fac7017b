#!/usr/bin/env bash
# fazhi serve: pages over HTTP with the live-reload script, rebuild on
# save and a reload event within 2 s, the build-error overlay data with
# file:line:col, recovery, path traversal refused, MIME types, 300
# concurrent requests, and a clean exit on SIGTERM.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
SERVER= SSE= SSE2=
cleanup() {
	for p in $SSE $SSE2 $SERVER; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	# The server's own account of what went wrong.
	[ "$FAILED" = 1 ] && for f in "$T"/log*; do
		echo "  $(basename "$f"):"; tail -20 "$f" | sed 's/^/  | /'
	done
	rm -rf "$T"
}
trap cleanup EXIT
pass() { echo "PASS $1"; }
FAILED=0
fail() { echo "FAIL $1: $2"; FAILED=1; }
check() { if eval "$2"; then pass "$1"; else fail "$1" "$2"; fi; }

command -v curl >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y \
	--no-install-recommends curl >/dev/null 2>&1
if ! command -v curl >/dev/null; then
	fail "curl is available" "install curl"
	exit 1
fi

# Stop at the first sign of a dead server rather than fail every check after it.
alive() {
	kill -0 "$SERVER" 2>/dev/null && return 0
	fail "the server is still running $1" "it exited"
	exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Poll a shell condition every 50 ms for up to $1 seconds.
wait_for() {
	local limit=$(($(now_ms) + $1 * 1000))
	until eval "$2"; do
		[ "$(now_ms)" -ge "$limit" ] && return 1
		sleep 0.05
	done
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

S=$T/s
mkdir -p "$S" "$T/tmp"
cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$S/"
[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$S/"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
TMPDIR=$T/tmp "$FAZHI" serve -C "$S" --port "$PORT" >"$T/log" 2>&1 &
SERVER=$!
if ! wait_for 30 'grep -q "^Serving " "$T/log"'; then
	fail "the server starts" "no Serving line; its output:"
	sed 's/^/  | /' "$T/log" | tail -20
	exit 1
fi
check "prints the Serving line" \
	'grep -qx "Serving http://127.0.0.1:$PORT/ (Ctrl-C to stop)" "$T/log"'
check "prints a line for the first build" 'grep -q "Built in [0-9]* ms" "$T/log"'
BUILT=$(ls -d "$T"/tmp/fazhi-serve-*/site 2>/dev/null | head -1)
check "builds into a temporary directory, not into ROOT" \
	'[ -n "$BUILT" ] && [ -f "$BUILT/index.html" ] && [ ! -e "$S/site" ]'

# ---- pages ----
code() { curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL$1"; }
ctype() { curl -s -o /dev/null -w '%{content_type}' "$URL$1"; }
curl -s -D "$T/h" "$URL/" >"$T/index"
check "/ is the home page (200, text/html; charset=utf-8)" \
	'head -1 "$T/h" | grep -q " 200" && grep -qi "^content-type: text/html; charset=utf-8" "$T/h"'
check "served HTML gets the live-reload script before </body>" \
	'grep -q "<script src=\"/__fazhi/live.js\" data-generation=\"[0-9a-f]*-1\"></script>" "$T/index" && tr -d "\n" <"$T/index" | grep -q "live.js[^<]*</script>.\?</body>"'
check "the built files are left without the script" '! grep -q __fazhi "$BUILT/index.html"'
check "served page is the built page plus one line" \
	'[ "$(grep -v __fazhi "$T/index" | tr -d "\n")" = "$(tr -d "\n" <"$BUILT/index.html")" ]'
check "HEAD works" '[ "$(curl -s -I -o /dev/null -w "%{http_code}" "$URL/")" = 200 ]'
check "/index.html serves the same page" '[ "$(code /index.html)" = 200 ]'
check ".css is text/css" '[ "$(ctype /assets/site.css)" = "text/css; charset=utf-8" ]'
check ".xml is XML" 'ctype /atom.xml | grep -Eq "^application/(atom\+)?xml"'
check ".txt is text/plain; charset=utf-8" '[ "$(ctype /robots.txt)" = "text/plain; charset=utf-8" ]'
CSV=$(cd "$BUILT" && find files -name '*.csv' | head -1)
check ".csv attachment is text/plain; charset=utf-8" \
	'[ -n "$CSV" ] && [ "$(ctype "/$(enc "$CSV")")" = "text/plain; charset=utf-8" ]'
check "/__fazhi/live.js is JavaScript" 'ctype /__fazhi/live.js | grep -q "^text/javascript"'
check "/__fazhi/status says ok" \
	'curl -s "$URL/__fazhi/status" | grep -q "^{\"ok\":true,\"generation\":1,"'
curl -s -D "$T/h404" "$URL/no/such/page.html" >"$T/404"
check "a missing file is the site's 404.html with status 404" \
	'head -1 "$T/h404" | grep -q " 404" && [ "$(grep -v __fazhi "$T/404" | tr -d "\n")" = "$(tr -d "\n" <"$BUILT/404.html")" ]'
check "the 404 page gets the script too" 'grep -q "/__fazhi/live.js" "$T/404"'
check "a directory without its slash redirects to DIR/" \
	'[ "$(code /report)" = 302 ] && [ "$(curl -s -o /dev/null -w "%{redirect_url}" "$URL/report")" = "$URL/report/" ]'
check "POST is refused (405)" '[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d x "$URL/")" = 405 ]'
check "a foreign Host header is refused (DNS rebinding)" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: evil.example" "$URL/")" = 403 ]'
check "localhost in Host is accepted" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: localhost:$PORT" "$URL/")" = 200 ]'
check "the build cache and other dot files are not served" \
	'[ "$(code /.fazhi-cache)" = 404 ]'

alive "after the page checks"
# ---- path traversal ----
for p in /../site.yaml /%2e%2e/site.yaml /%2e%2e%2fsite.yaml /..%5csite.yaml \
    /report/..%2f..%2fsite.yaml /report/%2e%2e/%2e%2e/site.yaml \
    '/..\site.yaml' /%2E%2E/%2E%2E/etc/passwd /index.html%00.css \
    /report/../../site.yaml /%252e%252e/site.yaml /..%2f..%2f..%2fetc%2fpasswd \
    '//etc/passwd' /%2fetc%2fpasswd; do
	c=$(code "$p")
	body=$(curl -s --path-as-is "$URL$p")
	check "traversal $p is refused ($c)" \
		'{ [ "$c" = 403 ] || [ "$c" = 404 ]; } && ! grep -q -e "base_url" -e "root:" <<<"$body"'
done

alive "after the traversal checks"
# ---- edit a report: new content and a reload event within 2 s ----
SEED=$S/content/市政府办公厅/2018.md
PAGE=/report/$(enc 市政府办公厅-2018.html)
check "the seed report page is served" '[ "$(code "$PAGE")" = 200 ]'
curl -sN "$URL/__fazhi/events" >"$T/sse" 2>/dev/null &
SSE=$!
# A page served before the last build learns of it on connecting.
curl -sN "$URL/__fazhi/events?g=stale-0" >"$T/sse-stale" 2>/dev/null &
SSE2=$!
wait_for 5 'grep -q "^retry:" "$T/sse"'
check "the event stream is text/event-stream" \
	'ctype_sse=$(curl -s -m 1 -o /dev/null -w "%{content_type}" "$URL/__fazhi/events"); [ "${ctype_sse%%;*}" = text/event-stream ]'
wait_for 3 'grep -q "^event: reload" "$T/sse-stale"'
check "a page from an older build is told to reload at once" 'grep -q "^event: reload" "$T/sse-stale"'
check "an up-to-date stream gets no event" '! grep -q "^event:" "$T/sse"'
MARK="实时预览标记$RANDOM$RANDOM"
t0=$(now_ms)
printf '\n%s\n' "$MARK" >>"$SEED"
wait_for 2 'grep -q "^event: reload" "$T/sse"'; ev=$?
wait_for 2 'curl -s "$URL$PAGE" | grep -q "$MARK"'; pg=$?
dt=$(($(now_ms) - t0))
check "an edit gives a reload event (within 2 s)" '[ $ev = 0 ]'
check "an edit shows in the served page (${dt} ms)" '[ $pg = 0 ] && [ $dt -le 2000 ]'
check "the rebuild line names the file" 'grep -q "Rebuilt in [0-9]* ms (content/市政府办公厅/2018.md)" "$T/log"'
check "the reload names the new generation" \
	'grep -A1 "^event: reload" "$T/sse" | grep -q "^data: [0-9a-f]*-2$"'

alive "after an edit"
# ---- a new report in a new directory is watched too ----
mkdir -p "$S/content/新部门"
sleep 0.2
sed -e 's/^department: .*/department: 新部门/' -e 's/^title: .*/title: 新部门2018年报告/' \
	"$SEED" >"$S/content/新部门/2018.md"
NEWPAGE=/report/$(enc 新部门-2018.html)
wait_for 3 '[ "$(code "$NEWPAGE")" = 200 ]'
check "a report in a new subdirectory is picked up" \
	'[ "$(code "$NEWPAGE")" = 200 ] && curl -s "$URL$NEWPAGE" | grep -q "新部门2018年报告"'
mkdir -p "$S/content/新部门/sub"
sleep 0.3
n=$(grep -c "^event: reload" "$T/sse")
echo "x" >"$S/content/新部门/sub/note.txt"
wait_for 3 '[ "$(grep -c "^event: reload" "$T/sse")" -gt "$n" ]'
check "files in directories made after start are watched" \
	'[ "$(grep -c "^event: reload" "$T/sse")" -gt "$n" ]'

alive "after a new directory"
# ---- break the report: error event with file:line:col; old site still served ----
LINE=$(grep -n '^year:' "$SEED" | head -1 | cut -d: -f1)
sed -i 's/^year: .*/year: 3000/' "$SEED"
wait_for 3 'grep -q "^event: error" "$T/sse"'
check "a build error reaches the browser as an error event" 'grep -q "^event: error" "$T/sse"'
check "the error names content/…md:LINE:COL" \
	'grep -q "^data: content/市政府办公厅/2018.md:$LINE:7: error: .*3000" "$T/sse"'
check "status says not ok, with the diagnostics" \
	'curl -s "$URL/__fazhi/status" | grep -q "^{\"ok\":false,.*\"errors\":\"content/市政府办公厅/2018.md:$LINE:7: error: "'
check "the build failure is printed" 'grep -q "Build failed: 1 error(s)" "$T/log"'
check "the server keeps serving the last good site" \
	'[ "$(code "$PAGE")" = 200 ] && curl -s "$URL$PAGE" | grep -q "$MARK"'
curl -sN "$URL/__fazhi/events?g=x" -m 2 >"$T/sse-late" 2>/dev/null
check "a page opened while broken gets the error at once" \
	'grep -q "^data: content/市政府办公厅/2018.md:$LINE:7" "$T/sse-late"'

sed -i "s/^year: .*/year: <b>3000<\/b>/" "$SEED"
wait_for 3 'grep -q "&lt;b&gt;" "$T/sse"'
check "the error payload is HTML-escaped" \
	'grep -q "^data: .*&lt;b&gt;3000&lt;/b&gt;" "$T/sse" && ! grep -q "^data: .*<b>" "$T/sse"'

alive "after a broken build"
# ---- fix it: recovery ----
n=$(grep -c "^event: reload" "$T/sse")
sed -i 's/^year: .*/year: 2018/' "$SEED"
wait_for 3 '[ "$(grep -c "^event: reload" "$T/sse")" -gt "$n" ]'
check "fixing the file sends reload" '[ "$(grep -c "^event: reload" "$T/sse")" -gt "$n" ]'
check "status is ok again" 'curl -s "$URL/__fazhi/status" | grep -q "^{\"ok\":true,.*\"errors\":\"\"}"'
check "the server is still up after the error" '[ "$(code "$PAGE")" = 200 ]'

alive "after the fix"
# ---- 300 concurrent requests, with event streams open ----
for i in $(seq 1 100); do
	echo "$URL/"; echo "$URL$PAGE"; echo "$URL/assets/site.css"
done >"$T/urls"
xargs -P 50 -n 1 curl -s -o /dev/null -w '%{http_code}\n' <"$T/urls" >"$T/codes" 2>/dev/null
check "300 concurrent requests all answer 200" \
	'[ "$(wc -l <"$T/codes")" = 300 ] && [ "$(grep -c "^200$" "$T/codes")" = 300 ]'

alive "after 300 requests"
# ---- requests during rebuilds see a whole site, old or new ----
( for i in $(seq 1 20); do touch "$SEED"; sleep 0.15; done ) &
TOUCHER=$!
python3 - "$URL" "$PAGE" >"$T/during" 2>&1 <<'PY'
import sys, threading, urllib.request, urllib.error
base, page = sys.argv[1], sys.argv[2]
bad = []
def get(i):
	url = base + (page if i % 2 else "/")
	try:
		with urllib.request.urlopen(url, timeout=20) as r:
			body = r.read()
			if r.status != 200 or not body.rstrip().endswith(b"</html>"):
				bad.append("%s %d %d bytes" % (url, r.status, len(body)))
	except Exception as e:
		bad.append("%s %s" % (url, e))
def worker(k):
	for i in range(k, 400, 20):
		get(i)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(20)]
for t in ts: t.start()
for t in ts: t.join()
print("bad", len(bad))
for b in bad[:5]: print(b)
PY
wait $TOUCHER
check "400 requests during 20 rebuilds: all 200 and whole pages" \
	'grep -qx "bad 0" "$T/during"'
check "those rebuilds happened" '[ "$(grep -c "Rebuilt in" "$T/log")" -ge 8 ]'

# ---- the port is taken: a clear error ----
alive "after rebuilds under load"
TMPDIR=$T/tmp "$FAZHI" serve -C "$S" --port "$PORT" >"$T/log2" 2>&1 &
p2=$!
wait_for 10 '! kill -0 $p2 2>/dev/null' || kill -9 $p2
wait $p2; st=$?
check "a busy port is an error, not a hang" '[ $st -ne 0 ] && grep -q "cannot listen" "$T/log2"'

# ---- SIGTERM: exit 0 within 2 s, temp dir removed ----
t0=$(now_ms)
kill -TERM "$SERVER"
wait_for 2 '! kill -0 $SERVER 2>/dev/null' || { sleep 3; kill -9 $SERVER; }
wait "$SERVER"; st=$?
dt=$(($(now_ms) - t0))
SERVER=
check "SIGTERM: exit 0 ($st) within 2 s (${dt} ms)" '[ $st = 0 ] && [ $dt -le 2000 ]'
check "SIGTERM: the temporary directory is removed" '[ -z "$(ls -A "$T/tmp")" ]'
check "the event streams were closed" '! kill -0 $SSE 2>/dev/null'
check "ROOT was not written to" '[ ! -e "$S/site" ] && [ ! -e "$S/site.fazhi-lock" ]'

# ---- SIGINT too; and a first build that fails still serves the overlay ----
sed -i 's/^year: .*/year: 3000/' "$SEED"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
TMPDIR=$T/tmp "$FAZHI" serve -C "$S" --port "$PORT" >"$T/log3" 2>&1 &
SERVER=$!
wait_for 20 'grep -q "^Serving " "$T/log3"'
check "a failing first build still serves (404 with the script)" \
	'[ "$(code /)" = 404 ] && curl -s "$URL/" | grep -q "/__fazhi/live.js"'
curl -sN "$URL/__fazhi/events?g=x" -m 2 >"$T/sse3" 2>/dev/null
check "…and the error overlay data" 'grep -q "^data: content/市政府办公厅/2018.md:$LINE:7" "$T/sse3"'
sed -i 's/^year: .*/year: 2018/' "$SEED"
wait_for 3 '[ "$(code /)" = 200 ]'
check "…and recovers when the file is fixed" '[ "$(code /)" = 200 ]'
kill -INT "$SERVER"
wait_for 2 '! kill -0 $SERVER 2>/dev/null' || { sleep 3; kill -9 $SERVER; }
wait "$SERVER"; st=$?
SERVER=
check "SIGINT: exit 0" '[ $st = 0 ] && [ -z "$(ls -A "$T/tmp")" ]'
exit 0
