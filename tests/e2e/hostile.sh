#!/usr/bin/env bash
# Hostile input: every case ends in escaped output or a clear error,
# within a CPU-time bound and a memory bound (tests/fuzz/README.md, "Limits").
#   XSS in every front-matter field and in Markdown (tests/hostile/xss/),
#   checked in every output file by tests/hostile/check_site.py;
#   path traversal and symbolic links; YAML bombs; cmark's pathological
#   inputs; huge reports and tables; NUL and invalid UTF-8; and the
#   inputs the fuzzers found (tests/hostile/regress/).
# Env: FAZHI (the generator), ROOT (the repository).  Bounds are for the
# release build; an AddressSanitizer build (a path with "asan") gets
# 5x the time and 4x the memory.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
H=$ROOT/tests/hostile
pass() { echo "PASS $1"; }
logf() { printf '%s/%s.log' "$T" "${1//\//_}"; }
fail() { echo "FAIL $1: $2"; }

TSLOW=1 MSLOW=1
case $FAZHI in *asan*) TSLOW=5 MSLOW=4 ;; esac
HAVE_TIME=1
[ -x /usr/bin/time ] || { HAVE_TIME=0; echo "SKIP memory bounds: /usr/bin/time is missing (apt-get install time)"; }

# A site with the repository's site.yaml, theme and filters, no content.
# With "core", site.yaml loses its filters and section rules, to test
# the core (cmark-gfm and the renderer) alone.
site() {
	mkdir -p "$1/content"
	cp -r "$ROOT/site.yaml" "$ROOT/themes" "$1/"
	[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$1/"
	if [ "${2:-}" = core ]; then
		awk '/^[a-z_]+:/ { skip = /^(filters|sections|filter_limits):/ }
		    !skip' "$ROOT/site.yaml" >"$1/site.yaml"
	fi
	return 0
}

# A report with the required fields; the rest of the file from stdin.
report() {	# report FILE [extra front matter lines]
	mkdir -p "$(dirname "$1")"
	local f=$1; shift
	{ printf -- '---\ntitle: 报告\ndepartment: %s\nyear: 2023\ncategory: 市政府部门\n' \
	    "$(basename "$(dirname "$f")")"
	  for l in "$@"; do printf '%s\n' "$l"; done
	  printf -- '---\n'; cat; } >"$f"
}

# run NAME SECONDS MB fazhi-args...: run the generator and check its
# bounds: SECONDS of CPU time (user + system, so that a loaded machine
# does not fail the test; the wall clock is cut at 6x plus 30 s) and MB
# of peak RSS.  Sets st (exit status), secs, mb; output in $(logf NAME).
run() {
	local name=$1 lim=$2 mem=$3; shift 3
	lim=$((lim * TSLOW)) mem=$((mem * MSLOW))
	local wall=$((lim * 6 + 30)) t0 t1 line
	t0=$(date +%s.%N)
	if [ $HAVE_TIME = 1 ]; then
		/usr/bin/time -f 'TIME %M %U %S' -o "$T/rss" timeout -s KILL "$wall" \
		    "$FAZHI" "$@" >"$(logf "$name")" 2>&1
		st=$?
		line=$(grep '^TIME ' "$T/rss" | tail -n 1)
		mb=$(awk '{ printf "%d", $2 / 1024 }' <<<"$line")
		secs=$(awk '{ printf "%.1f", $3 + $4 }' <<<"$line")
	else
		timeout -s KILL "$wall" "$FAZHI" "$@" >"$(logf "$name")" 2>&1
		st=$?
		t1=$(date +%s.%N)
		mb=0 secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	fi
	if [ $st -eq 137 ] || [ $st -eq 124 ]; then
		fail "$name: within ${lim}s" "killed after ${wall}s of wall-clock time"
	elif awk -v s="$secs" -v l="$lim" 'BEGIN { exit !(s > l) }'; then
		fail "$name: within ${lim}s" "took ${secs}s of CPU"
	elif [ $HAVE_TIME = 1 ] && [ "$mb" -gt "$mem" ]; then
		fail "$name: within ${mem} MB" "peak RSS ${mb} MB (${secs}s)"
	else
		pass "$name: bounded (${secs}s of ${lim}s CPU, ${mb} MB of ${mem} MB)"
	fi
}

# expect NAME STATUS REGEX: the last run exited with STATUS and said REGEX.
expect() {
	local name=$1 want=$2 re=$3
	local log
	log=$(logf "$name")
	if [ "$st" -ne "$want" ]; then
		fail "$name" "exit $st, want $want: $(head -c 300 "$log" | tr '\n' ' ')"
	elif [ -n "$re" ] && ! grep -Eq -- "$re" "$log"; then
		fail "$name" "no /$re/ in: $(head -c 300 "$log" | tr '\n' ' ')"
	else
		pass "$name: exit $want${re:+, says /$re/}"
	fi
}

# HOSTILE_ONLY=xss,paths runs only those groups (xss, paths, yaml,
# markdown, size, bytes, regress; the checker's self-test always runs).
want() { [ -z "${HOSTILE_ONLY:-}" ] || [[ ,$HOSTILE_ONLY, == *,$1,* ]]; }

# Front matter of a valid report, for printf.
FM='---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n'
BASE_URL=$(sed -n 's/^base_url: *//p' "$ROOT/site.yaml")

# ==== the output checker must catch what it is meant to catch ====
site "$T/base"
cp -r "$ROOT/content" "$T/base/"
"$FAZHI" build -C "$T/base" -o "$T/base/out" --quiet >/dev/null 2>&1 ||
	fail "baseline build of the sample site" "exit $?"
cp -r "$T/base/out" "$T/bad"
p=$(ls "$T"/bad/report/*.html | head -1)
printf '<p><img src=x onerror=alert(1)><a href=" JaVa&#x09;script:x">x</a><iframe></iframe></p>' >>"$p"
printf '<feed><unclosed>' >"$T/bad/atom.xml"
python3 - "$T/bad/evil.zip" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("../../evil.html", "<script>alert(1)</script>")
EOF
python3 "$H/check_site.py" "$T/bad" "$T/base/out" "$BASE_URL" checker >"$T/checker.out" 2>&1
for c in "only known elements" "no event-handler attributes" "no javascript:" \
    "well-formed XML" "zip-slip" "no inline script"; do
	if grep "^FAIL checker: " "$T/checker.out" | grep -qF "$c"; then
		pass "check_site.py catches: $c"
	else
		fail "check_site.py catches: $c" "$(grep -F "$c" "$T/checker.out")"
	fi
done

# ==== XSS in every front-matter field and in Markdown ====
if want xss; then
site "$T/x"
n=$(python3 "$H/xss/gen_reports.py" "$T/x/content" "$H/xss/payloads.txt" "$H/xss/markdown.md")
run "xss: $n hostile reports build" 60 1024 build -C "$T/x" -o "$T/x/out" --quiet
expect "xss: $n hostile reports build" 0 ""
python3 "$H/check_site.py" "$T/x/out" "$T/base/out" "$BASE_URL" "xss" "$H/xss/payloads.txt"
p=$(grep -l "XSS62" "$T"/x/out/report/*.html | head -1)
if [ -n "$p" ] && python3 -c '
import html, sys
t = html.unescape(open(sys.argv[1], encoding="utf-8").read())
sys.exit(0 if "{{ os.execute('"'"'id'"'"') }}{{{ title }}}{% error(" in t else 1)' "$p"; then
	pass "xss: template syntax in content is shown, not run"
else
	fail "xss: template syntax in content is shown, not run" "${p:-no page}"
fi
# Links that resolve to nothing once cmark decodes them: refused.
site "$T/xl"
report "$T/xl/content/甲局/2023.md" <"$H/xss/markdown-links.md"
run "xss: script URLs without a scheme" 20 256 build -C "$T/xl" -o "$T/xl/out" --quiet
expect "xss: script URLs without a scheme" 1 'content/甲局/2023.md:[0-9]+:[0-9]+: error: broken link'
[ ! -e "$T/xl/out" ] && pass "xss: nothing published after the refusal" ||
	fail "xss: nothing published after the refusal" "$T/xl/out exists"
fi

# ==== paths ====
if want paths; then
canary=fazhi-hostile-$$-$RANDOM
site "$T/p1"
i=0
for s in "../../../../../../../tmp/$canary" "a/b" ".." "/etc/passwd" "A B" "-x" 'x\y'; do
	i=$((i + 1))
	report "$T/p1/content/d$i/2023.md" "slug: \"${s//\\/\\\\}\"" <<<"正文"
done
run "paths: slug traversal" 20 256 build -C "$T/p1" -o "$T/p1/out" --quiet
expect "paths: slug traversal" 1 ""
c=$(grep -c "error: 'slug' may hold only a-z, 0-9 and -" "$(logf "paths: slug traversal")")
[ "$c" -eq 7 ] && pass "paths: all 7 bad slugs refused at their line" ||
	fail "paths: all 7 bad slugs refused at their line" "$c of 7"
ls /tmp | grep -q "$canary" && fail "paths: nothing written outside OUT" "/tmp/$canary*" ||
	pass "paths: nothing written outside OUT"

site "$T/p2"
report "$T/p2/content/甲局/2023.md" \
	'attachments: ["../../../../etc/passwd", "/etc/passwd", "a/../../x", "..\\x", "./x", "", "a//b"]' <<<"正文"
run "paths: attachment traversal" 20 256 build -C "$T/p2" -o "$T/p2/out" --quiet
expect "paths: attachment traversal" 1 ""
c=$(grep -Ec "must be a relative path inside the report's directory|'attachments' is empty" \
    "$(logf "paths: attachment traversal")")
[ "$c" -eq 7 ] && pass "paths: all 7 traversing attachments refused" ||
	fail "paths: all 7 traversing attachments refused" "$c of 7: $(head -c 400 "$(logf "paths: attachment traversal")")"

site "$T/p3"
mkdir -p "$T/p3/content/甲局" "$T/outside"
echo "secret,1" >"$T/outside/secret.csv"
ln -s /etc/passwd "$T/p3/content/甲局/passwd.csv"
ln -s "$T/outside" "$T/p3/content/甲局/dir"
cp "$ROOT/site.yaml" "$T/p3/content/甲局/real.csv"
ln -s real.csv "$T/p3/content/甲局/inside.csv"
report "$T/p3/content/甲局/2023.md" 'attachments: [passwd.csv, dir/secret.csv, inside.csv]' <<<"正文"
run "paths: attachment symlinks" 20 256 build -C "$T/p3" -o "$T/p3/out" --quiet
expect "paths: attachment symlinks" 1 ""
c=$(grep -c "is a symbolic link" "$(logf "paths: attachment symlinks")")
[ "$c" -eq 3 ] && pass "paths: symlinked attachments refused (to /etc, through a linked dir, inside ROOT)" ||
	fail "paths: symlinked attachments refused" "$c of 3: $(head -c 400 "$(logf "paths: attachment symlinks")")"

site "$T/p4"
mkdir -p "$T/p4/content/甲局" "$T/outside/乙局"
ln -s /etc/passwd "$T/p4/content/甲局/2023.md"
printf -- '---\ntitle: OUTSIDE-SECRET\ndepartment: 乙局\nyear: 2023\ncategory: 市政府部门\n---\nx\n' \
	>"$T/outside/乙局/2023.md"
ln -s "$T/outside/乙局" "$T/p4/content/乙局"
report "$T/p4/content/丙局/2023.md" <<<"正文"
run "paths: report symlinks" 20 256 build -C "$T/p4" -o "$T/p4/out" --quiet
expect "paths: report symlinks" 1 'content/甲局/2023.md: error: symbolic links are not followed'
rm "$T/p4/content/甲局/2023.md"
run "paths: a linked directory is skipped" 20 256 build -C "$T/p4" -o "$T/p4/out" --quiet
expect "paths: a linked directory is skipped" 0 ""
grep -rq "OUTSIDE-SECRET" "$T/p4/out" && fail "paths: nothing read through a linked directory" "found" ||
	pass "paths: nothing read through a linked directory"

site "$T/p5"
report "$T/p5/content/甲局/2023.md" 'filters: ["../../../etc/passwd", "a/b", "A", "x.lua", "../filters/stats"]' <<<"正文"
run "paths: filter names" 20 256 build -C "$T/p5" -o "$T/p5/out" --quiet
expect "paths: filter names" 1 ""
c=$(grep -c 'may hold only a-z, 0-9, - and _' "$(logf "paths: filter names")")
[ "$c" -eq 5 ] && pass "paths: all 5 bad filter names refused" ||
	fail "paths: all 5 bad filter names refused" "$c of 5"
site "$T/p6"
sed -i -e 's/^theme: .*/theme: ..\/..\/etc/' \
	-e 's/^filters: .*/filters: ["..\/..\/etc\/passwd"]/' "$T/p6/site.yaml"
grep -q '^filters: \["\.\./' "$T/p6/site.yaml" || printf 'filters: ["../../etc/passwd"]\n' >>"$T/p6/site.yaml"
report "$T/p6/content/甲局/2023.md" <<<"正文"
run "paths: site.yaml filter and theme" 20 256 build -C "$T/p6" -o "$T/p6/out" --quiet
expect "paths: site.yaml filter and theme" 1 "filter names are a-z, 0-9, - and _"
grep -q "'theme' must be a directory name under themes/" "$(logf "paths: site.yaml filter and theme")" &&
	pass "paths: theme traversal refused" || fail "paths: theme traversal refused" "no message"

# Departments and attachments whose names look like paths: built, but
# every file (and every zip entry) stays inside OUT.
site "$T/p7"
i=0
for d in "../../../../../../tmp/$canary" "." ".." "a/b" "/etc" "\\\\..\\\\x" "C:" ".hidden"; do
	i=$((i + 1))
	mkdir -p "$T/p7/content/d$i"
	printf -- '---\ntitle: t%d\ndepartment: "%s"\nyear: 2023\ncategory: 市政府部门\n---\nx\n' \
		$i "$d" >"$T/p7/content/d$i/2023.md"
done
mkdir -p "$T/p7/content/d1"
echo a >"$T/p7/content/d1/..."
echo b >"$T/p7/content/d1/-rf"
printf -- '---\ntitle: att\ndepartment: 附件局\nyear: 2023\ncategory: 市政府部门\nattachments: ["...", "-rf"]\n---\nx\n' \
	>"$T/p7/content/d1/att.md"
run "paths: path-like department names" 30 256 build -C "$T/p7" -o "$T/p7/out" --quiet
expect "paths: path-like department names" 0 ""
ls /tmp | grep -q "$canary" && fail "paths: departments write nothing outside OUT" "/tmp/$canary*" ||
	pass "paths: departments write nothing outside OUT"
python3 "$H/check_site.py" "$T/p7/out" "$T/base/out" "$BASE_URL" "paths"
fi

# ==== YAML ====
if want yaml; then
site "$T/y"
mkdir -p "$T/y/content/甲局"
{ printf -- '---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n'
  printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
  p=a
  for l in b c d e f g h i; do
	printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' $l $l $p $p $p $p $p $p $p $p $p
	p=$l
  done
  printf -- '---\nx\n'; } >"$T/y/content/甲局/2023.md"
run "yaml: billion laughs" 10 128 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: billion laughs" 1 'content/甲局/2023.md:6:4: error: YAML anchors are not allowed'
report "$T/y/content/甲局/2023.md" 'x: *undefined' <<<"x"
run "yaml: alias" 10 128 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: alias" 1 'error: (YAML aliases are not allowed|YAML syntax error)'
python3 -c 'print("---\ntitle: t\nx: " + "[" * 100000 + "]" * 100000 + "\n---")' >"$T/y/content/甲局/2023.md"
run "yaml: 100000 nested lists" 10 256 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: 100000 nested lists" 1 'YAML nested too deeply or too large \(limits: depth 64, 100000 nodes\)'
python3 -c 'print("---\ntitle: t\nx: [" + ",".join(["1"] * 100001) + "]\n---")' >"$T/y/content/甲局/2023.md"
run "yaml: 100001 nodes" 10 256 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: 100001 nodes" 1 'YAML nested too deeply or too large'
python3 -c 'print("---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\ntitle: u\n" + "".join("k%d: 1\n" % i for i in range(49990)) + "---\nx")' \
	>"$T/y/content/甲局/2023.md"
run "yaml: 50000 keys" 20 256 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: 50000 keys" 1 "content/甲局/2023.md:6:1: error: 'title' is set twice"
python3 -c 'print("---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\nattachments: [" + ", ".join("a%d.csv" % i for i in range(30000)) + "]\n---\nx")' \
	>"$T/y/content/甲局/2023.md"
run "yaml: 30000 attachments" 10 256 build -C "$T/y" -o "$T/y/out" --quiet
expect "yaml: 30000 attachments" 1 "'attachments' lists 30000 files; the limit is 1000"
site "$T/ys"
printf 'a: &a [x, x, x, x, x, x, x, x, x]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n' >>"$T/ys/site.yaml"
run "yaml: billion laughs in site.yaml" 10 128 build -C "$T/ys" -o "$T/ys/out" --quiet
expect "yaml: billion laughs in site.yaml" 1 'site.yaml:[0-9]+:[0-9]+: error: YAML anchors are not allowed'
fi

# ==== pathological Markdown (cmark's own list, and larger) ====
# The core first (no filters), then some of them through the filters.
if want markdown; then
# name, python expression for the body, CPU seconds, MB, exit status (tab-separated)
patho=$(cat <<'EOF'
100000 [	"[" * 100000	10	256	0
100000 *	"*" * 100000	10	256	0
10000 nested >	">" * 10000 + " x"	10	256	0
100000 nested >	"> " * 100000 + "x"	10	512	0
10000 nested list items	"- " * 10000 + "x"	10	256	0
10000 nested ordered items	"1. " * 10000 + "x"	10	256	0
3000-step list staircase	"".join("  " * i + "- x\n" for i in range(3000))	20	256	0
nested strong emph	"*a **a " * 10000 + "b" + " a** a*" * 10000	10	256	0
many emph closers	"a_ " * 100000	10	256	0
many emph openers	"_a " * 100000	10	256	0
many link closers	"a]" * 100000	10	256	0
many link openers	"[a" * 100000	10	256	0
mismatched openers	"*a_ " * 100000	10	256	0
openers and closers multiple of 3	"a**b" + "c* " * 100000	10	256	0
link openers and emph closers	"[ a_" * 100000	10	256	0
pattern [ (](	"[ (](" * 100000	10	256	0
nested brackets	"[" * 50000 + "a" + "]" * 50000	10	256	0
backticks	"".join("e" + "`" * i for i in range(1, 3000))	20	256	0
unclosed links A	"[a](<b" * 50000	10	256	0
unclosed links B	"[a](b" * 50000	10	256	0
many references	"".join("[%d]: https://example.com/\n" % i for i in range(50000)) + "[0] " * 50000	20	512	0
3000 identical headings	"## a\n" * 3000	10	256	0
many html comments	"<!--" * 100000	10	256	0
many cdata	"<![CDATA[" * 100000	10	256	0
many autolinks	"www." * 100000	10	256	0
email autolinks	"a@" * 100000	10	256	0
strikethrough	"~~a " * 100000	10	256	0
table in deep quote	"".join("> " * i + "| a |\n" + "> " * i + "|---|\n" for i in range(1, 2000))	20	256	0
table of 100000 columns	"x|" * 100000 + "\n" + "-|" * 100000	10	256	1
square table 3000 x 3000	"x|" * 3000 + "\n" + "-|" * 3000 + "\n" + "x\n" * 3000	10	256	1
100 columns x 20000 rows	"x|" * 100 + "\n" + "-|" * 100 + "\n" + "x\n" * 20000	10	256	1
wide table with CR line ends	"x|" * 3000 + "\r" + "-|" * 3000 + "\r" + "x\r" * 3000	10	256	1
wide table in a quote	"> " + "x|" * 3000 + "\n> " + "-|" * 3000 + "\n" + "> x\n" * 3000	10	256	1
50000 broken links	"[x](nowhere)\n" * 50000	10	256	1
EOF
)
i=0
while IFS=$'\t' read -r name expr lim mem want; do
	i=$((i + 1))
	d="$T/m$i"
	site "$d" core
	mkdir -p "$d/content/甲局"
	python3 -c "import sys; sys.stdout.write('---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n' + ($expr) + '\n')" \
		>"$d/content/甲局/2023.md"
	run "markdown: $name" "$lim" "$mem" build -C "$d" -o "$d/out" --quiet --no-bundles
	if [ "$want" = 1 ]; then
		expect "markdown: $name" 1 'content/甲局/2023.md(:7:[0-9]+)?: error: (table of [0-9]+ columns; the limit is 200|tables too large|broken link)'
	else
		expect "markdown: $name" 0 ""
	fi
	rm -rf "$d"
done <<<"$patho"
# Through the site's filters: deep nesting is refused with a clear
# error; long documents must still build.
filtered=$(cat <<'EOF'
10000 nested >	">" * 10000 + " x"	10	256	1
10000 nested list items	"- " * 10000 + "x"	10	256	1
nested strong emph	"*a **a " * 10000 + "b" + " a** a*" * 10000	10	256	1
3000 identical headings	"## a\n" * 3000	10	256	0
1200 numbered sections	"".join("## %d. 部分\n\n正文\n\n" % i for i in range(1, 1201))	10	256	0
EOF
)
while IFS=$'\t' read -r name expr lim mem want; do
	d="$T/f"
	site "$d"
	mkdir -p "$d/content/甲局"
	python3 -c "import sys; sys.stdout.write('---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n' + ($expr) + '\n')" \
		>"$d/content/甲局/2023.md"
	run "filters: $name" "$lim" "$mem" build -C "$d" -o "$d/out" --quiet --no-bundles
	if [ "$want" = 1 ]; then
		expect "filters: $name" 1 'content/甲局/2023.md(:[0-9]+:[0-9]+)?: error: filters: the Markdown is nested more than [0-9]+ levels deep'
	else
		expect "filters: $name" 0 ""
	fi
	rm -rf "$d"
done <<<"$filtered"
fi

# ==== size ====
if want size; then
site "$T/s"
mkdir -p "$T/s/content/甲局"
# 50 MB; 10 MB under AddressSanitizer, whose memory would crowd the machine.
big=50000000
[ $MSLOW -gt 1 ] && big=10000000
python3 - "$T/s/content/甲局/2023.md" $big <<'EOF'
# About 50 MB of ordinary report text: 500 numbered sections of ten
# subsections, each with paragraphs, a list and a table.
import sys
para = ("全年共办理行政复议案件3125件，审结2790件，直接纠错236件，纠错率8.5%。"
        "推进**严格规范公正文明执法**，落实[行政执法三项制度](https://example.com/)。") * 4
out = ["---\ntitle: 大报告\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n"]
n = 0
i = 0
while n < int(sys.argv[2]):
    i += 1
    out.append(f"## 第{i}部分\n\n")
    for j in range(1, 11):
        chunk = (f"### 第{j}项\n\n" + (para + "\n\n") * 20 +
                 f"- 要点一：{para[:60]}\n- 要点二\n\n"
                 f"| 项目 | 数量 |\n|---|---:|\n| 收案 | {i} |\n| 结案 | {j} |\n\n")
        out.append(chunk)
        n += len(chunk.encode())
open(sys.argv[1], "w").write("".join(out))
EOF
sz=$(stat -c %s "$T/s/content/甲局/2023.md")
size_mb=$((sz / 1000000))
# With the site's filters on, a document this large exceeds the filter
# bridge's limit (1,048,576 nodes): a clear error, nothing published.
# (The 10 MB report of the sanitizer run stays under it and builds.)
run "size: a $size_mb MB report with filters" 120 2048 build -C "$T/s" -o "$T/s/out" --quiet --no-bundles
if [ "$big" -ge 50000000 ]; then
	expect "size: a $size_mb MB report with filters" 1 'content/甲局/2023.md:[0-9]+:[0-9]+: error: filters/[a-z]+\.lua: invalid result: .* makes the document too large'
	[ ! -e "$T/s/out" ] && pass "size: nothing published when filters refuse it" ||
		fail "size: nothing published when filters refuse it" "output exists"
else
	expect "size: a $size_mb MB report with filters" 0 ""
	[ -s "$T/s/out/report/甲局-2023.html" ] && pass "size: the $size_mb MB filtered report has its page" ||
		fail "size: the $size_mb MB filtered report has its page" "missing"
fi
rm -rf "$T/s/out"
site "$T/sc" core
mkdir -p "$T/sc/content/甲局"
cp "$T/s/content/甲局/2023.md" "$T/sc/content/甲局/"
run "size: a $size_mb MB report builds without filters" 120 2048 build -C "$T/sc" -o "$T/sc/out" --quiet --no-bundles
expect "size: a $size_mb MB report builds without filters" 0 ""
[ -s "$T/sc/out/report/甲局-2023.html" ] && pass "size: the $size_mb MB report has its page" ||
	fail "size: the $size_mb MB report has its page" "missing"
rm -rf "$T/sc"
head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'x' >>"$T/s/content/甲局/2023.md"
run "size: a report over 64 MiB" 10 128 build -C "$T/s" -o "$T/s/out" --quiet
expect "size: a report over 64 MiB" 1 'content/甲局/2023.md:1:1: error: report is [0-9]+ bytes; the limit is 64 MiB'
rm "$T/s/content/甲局/2023.md"
truncate -s 4G "$T/s/content/甲局/2023.md"
run "size: a sparse 4 GiB report" 10 64 build -C "$T/s" -o "$T/s/out" --quiet
expect "size: a sparse 4 GiB report" 1 'report is 4294967296 bytes; the limit is 64 MiB'
rm "$T/s/content/甲局/2023.md"
python3 -c 'import sys; sys.stdout.write("---\ntitle: t\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n| 序号 | 事项 | 数量 |\n|---|---|---:|\n" + "".join("| %d | 行政许可事项 | %d |\n" % (i, i * 7) for i in range(100000)))' \
	>"$T/s/content/甲局/2023.md"
run "size: a table of 100000 rows" 60 1024 build -C "$T/s" -o "$T/s/out" --quiet --no-bundles
expect "size: a table of 100000 rows" 0 ""
c=$(grep -o '<tr>' "$T/s/out/report/甲局-2023.html" 2>/dev/null | wc -l)
[ "$c" -eq 100001 ] && pass "size: all 100000 rows rendered" || fail "size: all 100000 rows rendered" "$c <tr>"
fi

# ==== bytes ====
if want bytes; then
site "$T/b"
mkdir -p "$T/b/content/甲局"
bytes_case() {	# bytes_case NAME PRINTF-TEXT REGEX
	printf -- "$2" >"$T/b/content/甲局/2023.md"
	run "bytes: $1" 10 128 build -C "$T/b" -o "$T/b/out" --quiet
	expect "bytes: $1" 1 "$3"
}
bytes_case "NUL in the body" "${FM}正文\0正文\n" 'content/甲局/2023.md:7:3: error: NUL byte'
bytes_case "NUL in front matter" '---\ntitle: a\0b\n---\n' 'content/甲局/2023.md:2:9: error: NUL byte'
bytes_case "0xFF in the body" "${FM}正文\377\n" 'content/甲局/2023.md:7:3: error: invalid UTF-8 byte 0xFF'
bytes_case "overlong / (C0 AF)" "${FM}a\300\257\n" 'content/甲局/2023.md:7:2: error: invalid UTF-8 byte 0xC0'
bytes_case "overlong 3-byte (E0 80 AF)" "${FM}a\340\200\257\n" 'invalid UTF-8 byte 0xE0'
bytes_case "UTF-16 surrogate (ED A0 80)" "${FM}a\355\240\200\n" 'invalid UTF-8 byte 0xED'
bytes_case "beyond U+10FFFF (F4 90 80 80)" "${FM}a\364\220\200\200\n" 'invalid UTF-8 byte 0xF4'
bytes_case "truncated sequence at the end" "${FM}a\345\270" 'invalid UTF-8 byte 0xE5'
bytes_case "invalid UTF-8 in front matter" '---\ntitle: \351\n---\n' 'content/甲局/2023.md:2:8: error: invalid UTF-8 byte 0xE9'
bytes_case "UTF-16 file" '\377\376-\0-\0-\0\n\0' 'content/甲局/2023.md:1:1: error: invalid UTF-8 byte 0xFF'
bytes_case "escaped NUL in YAML" '---\ntitle: "a\\0b"\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n' "'title' holds a NUL character"
bytes_case "escaped control in YAML" '---\ntitle: "a\\x1bb"\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n' "'title' holds a control character"
bytes_case "empty file" '' 'error: empty file'
bytes_case "BOM only" '\357\273\277' 'error: a report must start with front matter'
fi

# ==== inputs the fuzzers found ====
if want regress; then
for f in "$H"/regress/fuzz_config/*; do
	[ -f "$f" ] || continue
	site "$T/rc"
	cp "$f" "$T/rc/site.yaml"
	run "regress: site.yaml $(basename "$f")" 10 128 check -C "$T/rc"
	# Exit 1 (diagnosed), not a crash or a sanitizer report.
	expect "regress: site.yaml $(basename "$f")" 1 'site.yaml:[0-9]+:[0-9]+: error'
	rm -rf "$T/rc"
done
for f in "$H"/regress/fuzz_frontmatter/* "$H"/regress/fuzz_markdown/*; do
	[ -f "$f" ] || continue
	site "$T/rf"
	mkdir -p "$T/rf/content/甲局"
	case $f in
	*fuzz_markdown*) { printf -- "$FM"; tail -c +2 "$f"; } >"$T/rf/content/甲局/2023.md" ;;
	*) cp "$f" "$T/rf/content/甲局/2023.md" ;;
	esac
	run "regress: $(basename "$(dirname "$f")")/$(basename "$f")" 10 256 check -C "$T/rf"
	if [ $st -le 1 ] && ! grep -q 'Sanitizer' "$(logf "regress: $(basename "$(dirname "$f")")/$(basename "$f")")"; then
		pass "regress: $(basename "$f"): exit $st, no crash"
	else
		fail "regress: $(basename "$f")" "exit $st"
	fi
	rm -rf "$T/rf"
done
fi

exit 0
