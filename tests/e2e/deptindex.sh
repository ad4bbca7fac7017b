#!/usr/bin/env bash
# The departments index (部门名录) per category: at national scale the
# home page cannot list every department, so a category with more than
# 100 departments is linked to its index, which pages through them 100
# at a time; the downloads page pages through departments the same way.
# Builds a generated site of 230 + 3 departments; a theme without
# departments.html builds no index.  Prints PASS/FAIL lines.
# Env: FAZHI (the generator), ROOT (the repository).
set -u
: "${FAZHI:?}" "${ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }

# 230 district departments (one of them moved there from 市直单位 in its
# newest year), 3 city departments, none in the other two categories.
mkdir -p "$tmp/p"
cp -r "$ROOT/themes" "$tmp/p/"
cat >"$tmp/p/site.yaml" <<'EOF'
title: 部门名录测试
base_url: https://dix.example.gov.cn/
categories: [市政府部门, 区政府, 市直单位, 中央和省驻市单位]
page_size: 5
EOF
python3 - "$tmp/p/content" <<'PY'
import os, sys
root = sys.argv[1]
def report(dept, year, cat):
    d = os.path.join(root, dept)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "%d.md" % year), "w", encoding="utf-8") as f:
        f.write("---\ntitle: %s%d年法治政府建设年度报告\ndepartment: %s\n"
                "year: %d\ncategory: %s\ndate: %d-03-01\n---\n\n"
                "## 一、主要举措\n\n正文。\n" % (dept, year, dept, year, cat, year + 1))
for i in range(229):
    report("第%03d区司法局" % i, 2023, "区政府")
    if i % 50 == 0:
        report("第%03d区司法局" % i, 2024, "区政府")
report("迁入区政府的单位", 2023, "市直单位")
report("迁入区政府的单位", 2024, "区政府")
for name in ("市司法局", "市教育局", "市财政局"):
    report(name, 2024, "市政府部门")
PY

if "$FAZHI" build -C "$tmp/p" -o "$tmp/site" --quiet >"$tmp/build.out" 2>&1; then
	pass "a site of 233 departments builds, its links all good"
else
	fail "a site of 233 departments builds" "$(head -5 "$tmp/build.out")"
	exit 1
fi

python3 - "$tmp/site" <<'PY' || fails=$((fails + 1))
import os, re, sys, urllib.parse
site = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "e2e"))
from pycheck import check, done
def page(rel):
    return open(os.path.join(site, rel), encoding="utf-8").read()
def hrefs(html):
    return [urllib.parse.unquote(h) for h in re.findall(r'href="([^"]+)"', html)]

home = page("index.html")
dept_links = [h for h in hrefs(home) if h.startswith("department/")]
check("home lists a small category's departments (3 city departments)",
      sorted(dept_links) == ["department/市司法局.html", "department/市教育局.html",
                             "department/市财政局.html"], str(dept_links[:5]))
check("home links the big category's index instead of 230 departments",
      "departments/区政府.html" in hrefs(home) and "230 个部门" in home)
check("home counts every department", "<strong>233</strong> 个部门" in home)
check("no index for a category without departments",
      not os.path.exists(os.path.join(site, "departments/市直单位.html")) and
      not os.path.exists(os.path.join(site, "departments/中央和省驻市单位.html")))

files = sorted(f for f in os.listdir(os.path.join(site, "departments"))
               if f.startswith("区政府"))
check("230 departments make three index pages",
      files == ["区政府-2.html", "区政府-3.html", "区政府.html"], str(files))
listed = []
for n, rel in enumerate(["区政府.html", "区政府-2.html", "区政府-3.html"], 1):
    html = page("departments/" + rel)
    names = re.findall(r'<a class="dept-index-name" href="[^"]+">([^<]+)</a>', html)
    check("index page %d holds %d departments" % (n, 100 if n < 3 else 30),
          len(names) == (100 if n < 3 else 30), str(len(names)))
    check("index page %d says where it is" % n,
          ("第 %d 页，共 3 页" % n) in html and
          re.search(r'<title>区政府：部门名录 - 部门名录测试</title>', html) is not None)
    listed += names
check("every district department is listed once, by name (byte order)",
      listed == sorted(listed, key=lambda s: s.encode()) and len(set(listed)) == 230
      and "迁入区政府的单位" in listed, str(len(listed)))
first = page("departments/区政府.html")
check("an index entry links the department and its newest report",
      re.search(r'href="../department/%E7%AC%AC000%E5%8C%BA%E5%8F%B8%E6%B3%95%E5%B1%80.html">'
                r'第000区司法局</a><span class="count">2 份</span>', first) is not None and
      "../report/" in first and "2024年度报告" in first)
check("index pages chain with rel=prev/next",
      re.search(r'<link rel="next" href="../departments/%E5%8C%BA%E6%94%BF%E5%BA%9C-2.html">', first)
      is not None and
      re.search(r'<link rel="prev" href="../departments/%E5%8C%BA%E6%94%BF%E5%BA%9C.html">',
                page("departments/区政府-2.html")) is not None)
check("breadcrumbs: 首页 > 法治政府建设 > 区政府 > 部门名录",
      re.search(r'<li><a href="../category/%E5%8C%BA%E6%94%BF%E5%BA%9C.html">区政府</a></li>\s*'
                r'<li><span aria-current="page">部门名录</span></li>', first) is not None)
check("the category page links its index",
      "../departments/区政府.html" in hrefs(page("category/区政府.html")))
# A department on the second index page: its side list's "more" link
# goes to that page.
d = page("department/第150区司法局.html")
more = re.search(r'<p class="side-more"><a href="([^"]+)">', d)
check("a department page links the index page that lists it",
      more is not None and urllib.parse.unquote(more.group(1)) == "../departments/区政府-2.html",
      more and more.group(1) or "no side-more link")
smap = page("sitemap.xml")
check("the sitemap lists every index page",
      all(("departments/%s" % urllib.parse.quote(f)) in smap for f in files))

# The downloads pages: 100 departments each, every bundle on one page.
dls = sorted(f for f in os.listdir(site) if re.fullmatch(r"downloads(-\d+)?\.html", f))
check("233 departments make three downloads pages",
      dls == ["downloads-2.html", "downloads-3.html", "downloads.html"], str(dls))
zips = sorted(os.path.relpath(os.path.join(d, f), site)
              for d, _, fs in os.walk(os.path.join(site, "bundles")) for f in fs)
seen = {}
for f in dls:
    for h in hrefs(page(f)):
        if h.startswith("bundles/"):
            seen.setdefault(h, set()).add(f)
per_report = [z for z in zips if z.startswith(("bundles/report/", "bundles/department/"))]
missing = [z for z in zips if z not in seen]
twice = [z for z in per_report if len(seen.get(z, ())) > 1]
check("every bundle is linked from the downloads pages (%d)" % len(zips),
      zips and not missing, str(missing[:3]))
check("each department's and report's bundle on exactly one page",
      not twice, str(twice[:3]))
p1, p2 = page("downloads.html"), page("downloads-2.html")
check("the whole site, years and categories are on the first page only",
      'id="dl-site"' in p1 and 'id="dl-site"' not in p2 and 'id="dl-years"' not in p2)
check("downloads pages chain with rel=prev/next",
      '<link rel="next" href="downloads-2.html">' in p1 and
      '<link rel="prev" href="downloads.html">' in p2 and
      '<link rel="next" href="downloads-3.html">' in p2)
check("the sitemap lists every downloads page",
      all("https://dix.example.gov.cn/" + f in smap for f in dls))
import zipfile
with zipfile.ZipFile(os.path.join(site, "bundles/全站.zip")) as z:
    off = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("downloads")}
check("the whole-site zip holds the offline copy of every downloads page",
      sorted(off) == dls and all("离线副本" in t and 'href="bundles/' not in t
                                 and 'href="https://dix.example.gov.cn/bundles/' in t
                                 for t in off.values()), str(sorted(off)))
done()
PY

# A theme without departments.html: no index, and the home page (the
# default one here) lists every department as before.
cp -r "$tmp/p" "$tmp/q"
rm "$tmp/q/themes/default/templates/departments.html"
if "$FAZHI" build -C "$tmp/q" -o "$tmp/site2" --quiet >"$tmp/build2.out" 2>&1; then
	pass "a theme without departments.html builds"
	if [ ! -e "$tmp/site2/departments" ]; then
		pass "without the template no index is built"
	else
		fail "without the template no index is built" "$(ls "$tmp/site2/departments" | head -3)"
	fi
	n=$(grep -o 'href="department/[^"]*"' "$tmp/site2/index.html" | sort -u | wc -l)
	if [ "$n" -eq 233 ]; then
		pass "without an index the home page lists all 233 departments"
	else
		fail "without an index the home page lists all 233 departments" "$n"
	fi
else
	fail "a theme without departments.html builds" "$(head -5 "$tmp/build2.out")"
fi

# fazhi check knows the index pages (a dry run writes none).
if "$FAZHI" check -C "$tmp/p" >"$tmp/check.out" 2>&1; then
	pass "fazhi check passes the site (index pages known to the link check)"
else
	fail "fazhi check passes the site" "$(head -5 "$tmp/check.out")"
fi

[ $fails -eq 0 ]
