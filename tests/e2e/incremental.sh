#!/usr/bin/env bash
# Incremental builds reuse unchanged report pages, and their output is
# byte-identical to a cold build after every kind of change.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/p"
cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$T/p/"
[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$T/p/"

# Build incrementally into site/, cold into a fresh directory; compare.
same_as_cold() {
	local label=$1
	"$FAZHI" build -C "$T/p" --quiet >"$T/inc.log" 2>&1 || { echo "FAIL $label: incremental build failed: $(head -3 "$T/inc.log")"; return; }
	rm -rf "$T/cold"
	"$FAZHI" build -C "$T/p" -o "$T/cold" --quiet >/dev/null 2>&1
	if diff -r "$T/p/site" "$T/cold" >"$T/diff" 2>&1; then
		echo "PASS $label: incremental output equals a cold build"
	else
		echo "FAIL $label: differs from a cold build: $(head -5 "$T/diff")"
	fi
}

"$FAZHI" build -C "$T/p" --quiet >/dev/null 2>&1
"$FAZHI" build -C "$T/p" >"$T/log" 2>&1
n=$(find "$T/p/content" -name '*.md' | wc -l)
if grep -qE "Reports +\| $n \($n reused\)" "$T/log"; then echo "PASS unchanged rebuild reuses every report page"
else echo "FAIL unchanged rebuild reuses every report page: $(grep Reports "$T/log")"; fi
same_as_cold "no change"
# Listing pages are reused too: the same file (inode), not a re-render.
ino=$(stat -c %i "$T/p/site/reports.html" "$T/p/site/category/区政府.html" | tr '\n' ' ')
"$FAZHI" build -C "$T/p" --quiet >/dev/null 2>&1
[ "$(stat -c %i "$T/p/site/reports.html" "$T/p/site/category/区政府.html" | tr '\n' ' ')" = "$ino" ] &&
    echo "PASS unchanged rebuild reuses listing pages" || echo "FAIL unchanged rebuild reuses listing pages"

echo "新增一段：持续推进。" >>"$T/p/content/市司法局/2022.md"
"$FAZHI" build -C "$T/p" >"$T/log" 2>&1
# The edited page and its department neighbours (their year links) are re-rendered.
if grep -qE "Reports +\| $n \($((n - 1)) reused\)" "$T/log"; then echo "PASS one edit re-renders one page"
else echo "FAIL one edit re-renders one page: $(grep Reports "$T/log")"; fi
grep -q "新增一段" "$T/p/site/report/市司法局-2022.html" && echo "PASS the edit is published" || echo "FAIL the edit is published"
same_as_cold "edit"

sed -i 's/^title: 市司法局2021年.*/title: 市司法局2021年法治政府建设情况报告（修订）/' "$T/p/content/市司法局/2021.md"
same_as_cold "title change shows in the neighbours' year links"
grep -q "（修订）" "$T/p/site/report/市司法局-2022.html" && echo "PASS neighbour page shows the new title" || echo "FAIL neighbour page shows the new title"

mkdir -p "$T/p/content/新部门"
printf -- '---\ntitle: 新部门2023年报告\ndepartment: 新部门\nyear: 2023\ncategory: 区政府\n---\n\n## 一、主要举措和成效\n\n正文。\n' >"$T/p/content/新部门/2023.md"
same_as_cold "addition"
[ -f "$T/p/site/report/新部门-2023.html" ] && echo "PASS the new report is published" || echo "FAIL the new report is published"

rm "$T/p/content/新部门/2023.md"
same_as_cold "deletion"
[ ! -e "$T/p/site/report/新部门-2023.html" ] && ! grep -rq "新部门" "$T/p/site" && echo "PASS a deleted report disappears from pages and listings" || echo "FAIL a deleted report disappears from pages and listings"

git -C "$T/p" init -q 2>/dev/null; mv "$T/p/content/市气象局/2022.md" "$T/p/content/市气象局/2022年报告.md"
same_as_cold "rename"
[ ! -e "$T/p/site/report/市气象局-2022.html" ] && [ -f "$T/p/site/report/市气象局-2022年报告.html" ] && echo "PASS a renamed report moves" || echo "FAIL a renamed report moves"

sed -i 's/<\/main>/<\/main><!-- 模板已修改 -->/' "$T/p/themes/default/templates/report.html"
"$FAZHI" build -C "$T/p" >"$T/log" 2>&1
grep -qE "Reports +\| [0-9]+ \(0 reused\)" "$T/log" && echo "PASS a template change rebuilds every report" || echo "FAIL a template change rebuilds every report: $(grep Reports "$T/log")"
same_as_cold "template change"

sed -i 's/^page_size: 20/page_size: 3/' "$T/p/site.yaml"
same_as_cold "config change"

mkdir -p "$T/p/filters"; echo "return {}" >"$T/p/filters/zz_noop.lua"
"$FAZHI" build -C "$T/p" >"$T/log" 2>&1
grep -qE "Reports +\| [0-9]+ \(0 reused\)" "$T/log" && echo "PASS a filter change rebuilds every report" || echo "FAIL a filter change rebuilds every report: $(grep Reports "$T/log")"
same_as_cold "filter change"
# A page reused from the cache still has its links into other reports
# checked: renaming the target (its slug) breaks the link, found at its source.
sed -i 's/^filters:.*/filters: []/; /^sections:/,/level: warning/d' "$T/p/site.yaml"
printf '\n见[市司法局2023年报告](sfj-2023.html#一-2023年推进法治政府建设的主要举措和成效)。\n' >>"$T/p/content/东湖区人民政府/2021.md"
line=$(wc -l <"$T/p/content/东湖区人民政府/2021.md")
same_as_cold "a cross-report link"
"$FAZHI" build -C "$T/p" >"$T/log" 2>&1
grep -qE "Reports +\| $n \($n reused\)" "$T/log" && echo "PASS without filters every page is reused" || echo "FAIL without filters every page is reused: $(grep Reports "$T/log")"
sed -i 's/^slug: sfj-2023/slug: sfj2023/' "$T/p/content/市司法局/2023.md"
if "$FAZHI" build -C "$T/p" >"$T/log" 2>&1; then
	echo "FAIL a reused page's link to a renamed report fails the build"
elif grep -q "^content/东湖区人民政府/2021.md:$line:2: error: broken link \"sfj-2023.html#" "$T/log"; then
	echo "PASS a reused page's link to a renamed report is an error at its source"
else
	echo "FAIL a reused page's link to a renamed report is an error at its source: $(head -3 "$T/log")"
fi
sed -i 's/^slug: sfj2023/slug: sfj-2023/' "$T/p/content/市司法局/2023.md"
sed -i 's/^## 一、2023年推进法治政府建设的主要举措和成效/## 一、主要举措/' "$T/p/content/市司法局/2023.md"
if "$FAZHI" build -C "$T/p" >"$T/log" 2>&1; then
	echo "FAIL a reused page's link to a removed heading fails the build"
elif grep -q "^content/东湖区人民政府/2021.md:$line:2: error: broken link .*has no heading or anchor" "$T/log"; then
	echo "PASS a reused page's link to a removed heading is an error at its source"
else
	echo "FAIL a reused page's link to a removed heading is an error at its source: $(head -3 "$T/log")"
fi
exit 0
