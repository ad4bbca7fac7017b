#!/usr/bin/env bash
# The core: builds of the sample site and of small broken sites; exact
# diagnostics, exit codes, determinism and the atomic publish.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() { if eval "$2"; then pass "$1"; else fail "$1" "$2"; fi; }

# A copy of the project to build, so the repository is never written.
copy_site() {
	mkdir -p "$1"
	cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$1/"
	[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$1/"
	return 0
}

# ---- the sample site ----
copy_site "$T/s"
"$FAZHI" build -C "$T/s" --quiet --no-bundles >"$T/out" 2>&1
check "sample site builds (exit 0)" '[ $? -eq 0 ] || [ -f "$T/s/site/index.html" ]'
n_src=$(find "$T/s/content" -name '*.md' | wc -l)
n_out=$(ls "$T/s/site/report" | grep -c '\.html$')
check "a page per report ($n_src reports)" '[ "$n_src" -eq "$n_out" ]'
seed="$T/s/site/report/市政府办公厅-2018.html"
check "Chinese file and directory names work" '[ -f "$seed" ]'
check "report page holds title, department, date and body" \
	'grep -q "市政府办公厅2018年法治政府建设重点工作落实情况" "$seed" && grep -q "2019" "$seed" && grep -q "深入学习贯彻" "$seed"'
check "BOM report builds with its title" \
	'grep -q "<h1" "$T/s/site/report/东湖区人民政府-2021.html"'
crlf=$(grep -l $'\r' -r "$T/s/content" --include='*.md' | head -1)
check "a CRLF report is in the sample" '[ -n "$crlf" ]'
check "CRLF report renders without stray CR" \
	'! grep -q $'"'"'\r'"'"' "$T/s/site/report/市气象局-2022.html"'
check "GFM tables render" 'grep -q "<table" "$T/s/site/report/sfj-2023.html"'
check "headings get Chinese ids" 'grep -q "id=\"一-主要举措及成效\"" "$seed"'
check "index pages exist" '[ -f "$T/s/site/index.html" ] && ls "$T/s/site/department/" | grep -q "市司法局.html" && [ -f "$T/s/site/year/2022.html" ] && ls "$T/s/site/category" | grep -q "区政府.html"'
check "attachment copied" '[ -f "$T/s/site/files/sfj-2023/2023年行政复议案件统计表.csv" ]'
check "no build timestamps in output" '! grep -rq "$(date +%Y-%m-%dT%H)" "$T/s/site"'

# ---- determinism ----
"$FAZHI" build -C "$T/s" -o "$T/again" --quiet --no-bundles >/dev/null 2>&1
check "two builds are byte-identical" 'diff -r "$T/s/site" "$T/again" >/dev/null'
FAZHI_JOBS=1 "$FAZHI" build -C "$T/s" -o "$T/one" --quiet --no-bundles >/dev/null 2>&1
check "one worker or many: the same bytes" 'diff -r "$T/s/site" "$T/one" >/dev/null'

# ---- fazhi check writes nothing ----
copy_site "$T/c"
"$FAZHI" check -C "$T/c" --quiet >"$T/out" 2>&1; st=$?
check "check: exit 0 on the sample" '[ $st -eq 0 ]'
check "check: writes nothing" '[ ! -e "$T/c/site" ] && [ -z "$(ls "$T/c" | grep -v -e site.yaml -e content -e themes -e filters)" ]'

# ---- bad input: every error, with its position, in one run ----
mkdir -p "$T/b"
cp -r "$ROOT/themes" "$ROOT/site.yaml" "$T/b/"
mkdir -p "$T/b/content/甲" "$T/b/content/乙"
printf -- '---\ntitle: 好报告\ndepartment: 甲局\nyear: 2020\ncategory: 区政府\n---\n正文\n' >"$T/b/content/甲/2020.md"
printf -- '---\ntitle: 重复\ndepartment: 甲局\nyear: 2020\ncategory: 区政府\n---\n' >"$T/b/content/乙/dup.md"
printf -- '---\ntitle: 坏年份\ndepartment: 乙局\nyear: 3000\ncategory: 区政府\n---\n' >"$T/b/content/乙/year.md"
printf -- '---\ntitle: 坏类别\ndepartment: 丙局\nyear: 2020\ncategory: 省政府\n---\n' >"$T/b/content/乙/cat.md"
printf -- '---\ntitle: 拼写\ndepartment: 丁局\nyear: 2020\ncatagory: 区政府\n---\n' >"$T/b/content/乙/typo.md"
printf -- '---\ntitle: 未闭合\ndepartment: 戊局\nyear: 2020\n' >"$T/b/content/乙/open.md"
: >"$T/b/content/乙/empty.md"
printf -- '---\ntitle: 坏\xff字节\n---\n' >"$T/b/content/乙/utf8.md"
head -c 300 /dev/urandom | tr -d '\n' | { printf -- '---\n'; cat; } >"$T/b/content/乙/binary.md"
printf -- '---\na: &a ["x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n---\n' >"$T/b/content/乙/bomb.md"
printf -- '---\ntitle: 日期\ndepartment: 己局\nyear: 2020\ncategory: 区政府\ndate: 2020-02-30\nslug: Bad_Slug\nattachments: [../../site.yaml]\n---\n' >"$T/b/content/乙/fields.md"
mkdir -p "$T/b/site" && echo "old site" >"$T/b/site/index.html"
"$FAZHI" build -C "$T/b" >"$T/out" 2>&1; st=$?
check "bad input: exit status 1" '[ $st -eq 1 ]'
has() { grep -qF -- "$2" "$T/out" && pass "$1" || fail "$1" "no line '$2' in: $(head -c 1500 "$T/out")"; }
check "duplicate department and year names both files" 'grep -qE "^content/(乙/dup|甲/2020)\.md: error: a report for 甲局 2020 already exists: content/(甲/2020|乙/dup)\.md" "$T/out"' 
has "year out of range: position of the value" "content/乙/year.md:4:7: error: 'year' must be a whole number from 1949 to 2100"
has "unknown category: position and hint" "content/乙/cat.md:5:11: error: unknown category \"省政府\""
has "unknown category: lists the allowed ones" "note: allowed categories (site.yaml): 市政府部门、区政府、市直单位、中央和省驻市单位"
has "unknown key: a warning with position" "content/乙/typo.md:5:1: warning: unknown front-matter key 'catagory' is ignored"
has "unknown key: did you mean" "note: did you mean 'category'?"
has "missing required field" "content/乙/typo.md:2:1: error: missing required field 'category'"
has "front matter with no closing ---" "content/乙/open.md:1:1: error: front matter is not closed"
has "empty file" "content/乙/empty.md:1:1: error: empty file"
has "invalid UTF-8: exact byte position" "content/乙/utf8.md:2:9: error: invalid UTF-8 byte 0xFF"
check "binary file: a clear error, no crash" 'grep -q "content/乙/binary.md:[0-9]*:[0-9]*: error: " "$T/out"'
has "alias bomb: refused" "content/乙/bomb.md:2:4: error: YAML anchors are not allowed"
has "impossible date" "content/乙/fields.md:6:7: error: 'date' must be a date written YYYY-MM-DD"
has "bad slug" "content/乙/fields.md:7:7: error: 'slug' may hold only a-z, 0-9 and -"
has "attachment path traversal refused" "content/乙/fields.md:8:15: error: attachment \"../../site.yaml\" must be a relative path"
check "bad input: the old site is untouched" '[ "$(cat "$T/b/site/index.html")" = "old site" ] && [ "$(ls "$T/b/site")" = index.html ]'
check "bad input: no staging directory left" '! ls -d "$T/b/site.fazhi-staging" 2>/dev/null'
"$FAZHI" build -C "$T/b" --error-format github >"$T/gh" 2>&1
check "--error-format github: workflow commands" \
	'grep -qF "::error file=content/乙/year.md,line=4,col=7::'"'"'year'"'"' must be a whole number" "$T/gh"'

# ---- site.yaml errors ----
mkdir -p "$T/y/content"
printf 'title: x\ncategories: [a]\nthemee: default\n' >"$T/y/site.yaml"
"$FAZHI" build -C "$T/y" >"$T/out" 2>&1; st=$?
check "site.yaml unknown key: exit 1 with position" '[ $st -eq 1 ] && grep -qF "site.yaml:3:1: error: unknown key '"'"'themee'"'"'" "$T/out"'

# ---- usage errors: exit 2 ----
"$FAZHI" frobnicate >/dev/null 2>&1; check "unknown command: exit 2" '[ $? -eq 2 ]'
"$FAZHI" build --bogus >/dev/null 2>&1; check "unknown option: exit 2" '[ $? -eq 2 ]'
"$FAZHI" build --error-format xml >/dev/null 2>&1; check "bad --error-format: exit 2" '[ $? -eq 2 ]'
"$FAZHI" --help | grep -q "fazhi build"; check "--help prints usage" '[ $? -eq 0 ]'
"$FAZHI" --version | grep -qE "^fazhi [0-9]+\.[0-9]+"; check "--version" '[ $? -eq 0 ]'
check "man page ships in the repository" '[ -f "$ROOT/fazhi.1" ] && grep -q "^\.TH FAZHI 1" "$ROOT/fazhi.1"'

# ---- fazhi new ----
copy_site "$T/n"
"$FAZHI" new -C "$T/n" --department 市文化广电旅游体育局 --year 2024 --category 市政府部门 >"$T/out" 2>&1; st=$?
f="$T/n/content/市文化广电旅游体育局/2024.md"
check "new: writes a skeleton" '[ $st -eq 0 ] && [ -f "$f" ]'
check "new: the five statutory sections" '[ $(grep -c "^## " "$f") -eq 5 ] && grep -q "第一责任人职责情况" "$f"'
"$FAZHI" check -C "$T/n" --quiet >/dev/null 2>&1
check "new: the skeleton passes check" '[ $? -eq 0 ]'
echo "edited" >>"$f"
"$FAZHI" new -C "$T/n" --department 市文化广电旅游体育局 --year 2024 --category 市政府部门 >"$T/out" 2>&1; st=$?
check "new: refuses to overwrite" '[ $st -ne 0 ] && tail -1 "$f" | grep -q edited && grep -q "already exists" "$T/out"'
"$FAZHI" new -C "$T/n" --department 甲 --year 2024 --category 省政府 >/dev/null 2>&1
check "new: unknown category is a usage error" '[ $? -eq 2 ]'
"$FAZHI" new -C "$T/n" --department ../x --year 2024 --category 区政府 >/dev/null 2>&1
check "new: department cannot be a path" '[ $? -eq 2 ] && [ ! -e "$T/n/x" ]'

# ---- atomic publish: kill -9 mid-build ----
copy_site "$T/k"
for i in $(seq 1 60); do
	d="$T/k/content/批量$i"; mkdir -p "$d"
	{ printf -- '---\ntitle: 批量报告%s\ndepartment: 批量局%s\nyear: 2021\ncategory: 区政府\n---\n' "$i" "$i"
	  for j in $(seq 1 200); do printf '## 第%s节\n\n一是加强统筹。二是依法依规。\n\n| 项目 | 数量 |\n|---|---|\n| 甲 | %s |\n\n' "$j" "$j"; done; } >"$d/2021.md"
done
"$FAZHI" build -C "$T/k" --quiet --no-bundles >/dev/null 2>&1
(cd "$T/k/site" && find . -type f -exec sha256sum {} + | sort) >"$T/before"
intact=1
for delay in 0.01 0.02 0.04 0.06 0.08; do
	echo "改动 $delay" >>"$T/k/content/批量1/2021.md"
	"$FAZHI" build -C "$T/k" --quiet --no-bundles >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	(cd "$T/k/site" && find . -type f -exec sha256sum {} + | sort) >"$T/after"
	if ! cmp -s "$T/before" "$T/after"; then
		# The build may have finished before the kill: then it is the new site, whole.
		if [ -f "$T/k/site/index.html" ] && grep -q "改动 $delay" "$T/k/site/report/批量1-2021.html" 2>/dev/null; then
			cp "$T/after" "$T/before"
		else
			intact=0
		fi
	fi
done
check "kill -9 mid-build: the previous site is intact" '[ $intact = 1 ]'
"$FAZHI" build -C "$T/k" --quiet --no-bundles >/dev/null 2>&1
check "after a killed build the next build succeeds" '[ $? -eq 0 ] && grep -q "改动 0.08" "$T/k/site/report/批量1-2021.html"'
check "no staging directory left behind" '[ ! -e "$T/k/site.fazhi-staging" ]'
exit 0
