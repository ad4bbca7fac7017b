#!/usr/bin/env bash
# The portal (issue 3): navigation, breadcrumbs, tables of contents, year
# links, feeds, meta tags, pagination and the link check, on the sample
# site built into a temporary directory.  Prints PASS/FAIL lines.
# Env: FAZHI (the generator), ROOT (the repository).
set -u
: "${FAZHI:?}" "${ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }

# A private copy of the project, so variants never touch the repository.
copy_project() {
	mkdir -p "$1"
	cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$1/"
	[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$1/"
	return 0
}

# ---- the sample site ----
if "$FAZHI" build -C "$ROOT" -o "$tmp/site" --quiet \
    >"$tmp/build.out" 2>&1; then
	pass "sample site builds"
else
	fail "sample site builds" "$(head -5 "$tmp/build.out")"
	exit 1
fi

# Most checks read the HTML: one Python program, one PASS/FAIL per check.
python3 - "$tmp/site" <<'PY' || fails=$((fails + 1))
import json, os, re, sys, urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

site = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "e2e"))
from pycheck import check, done

class Page(HTMLParser):
    """Links, ids, headings, meta tags, JSON-LD and navs of one page."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.h1 = [], [], 0
        self.meta, self.rel, self.ldjson = {}, [], []
        self.navs = {}          # aria-label -> hrefs inside
        self.crumbs = 0         # <li> in the breadcrumb nav
        self.nav_stack, self.in_ld, self.lang = [], False, None
        self.handlers, self.skip = [], None
        self.first_link = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in a:
            if k.startswith("on"):
                self.handlers.append(k)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "h1":
            self.h1 += 1
        if tag == "nav":
            self.nav_stack.append(a.get("aria-label", ""))
            self.navs.setdefault(self.nav_stack[-1], [])
        if tag == "li" and self.nav_stack and self.nav_stack[-1] == "当前位置":
            self.crumbs += 1
        if tag == "meta":
            key = a.get("name") or a.get("property")
            if key:
                self.meta[key] = a.get("content", "")
        if tag == "link":
            self.rel.append((a.get("rel", ""), a.get("href", ""), a.get("type", "")))
        if tag == "script" and a.get("type") == "application/ld+json":
            self.in_ld = True
            self.ldjson.append("")
        if tag == "script" and a.get("type") == "text/javascript":
            self.handlers.append("type=text/javascript")
        for attr in ("href", "src"):
            if attr in a and tag != "link" or (tag == "link" and attr == "href" and "stylesheet" in a.get("rel", "")):
                if attr in a:
                    self.links.append((tag, a.get("rel", ""), a[attr]))
                    if self.first_link is None and tag == "a":
                        self.first_link = (a[attr], a.get("class", ""))
                    if tag == "a" and self.nav_stack:
                        self.navs[self.nav_stack[-1]].append(a[attr])
    def handle_endtag(self, tag):
        if tag == "nav" and self.nav_stack:
            self.nav_stack.pop()
        if tag == "script":
            self.in_ld = False
    def handle_data(self, data):
        if self.in_ld:
            self.ldjson[-1] += data

pages = {}
def load(rel):
    if rel not in pages:
        p = Page()
        with open(os.path.join(site, rel), encoding="utf-8") as f:
            p.feed(f.read())
        pages[rel] = p
    return pages[rel]

def resolve(page, href):
    """The file a relative href points to, and its fragment; None if external."""
    u = urllib.parse.urlsplit(href)
    if u.scheme or u.netloc:
        return None, None
    path = urllib.parse.unquote(u.path)
    frag = urllib.parse.unquote(u.fragment) or None
    if not path:
        return page, frag
    if path.startswith("/"):
        target = path.lstrip("/")
    else:
        target = os.path.normpath(os.path.join(os.path.dirname(page), path))
    if path.endswith("/"):
        target = os.path.join(target, "index.html")
    return target, frag

all_html = []
for d, _, files in os.walk(site):
    for f in files:
        if f.endswith(".html"):
            all_html.append(os.path.relpath(os.path.join(d, f), site))
reports = sorted(p for p in all_html if p.startswith("report/"))
check("the sample has reports", len(reports) >= 10, "%d" % len(reports))

# Every report is reachable from the home page by following links.
seen, queue, broken = {"index.html"}, ["index.html"], []
while queue:
    cur = queue.pop(0)
    for tag, rel, href in load(cur).links:
        target, frag = resolve(cur, href)
        if target is None:
            continue
        if not os.path.exists(os.path.join(site, target)):
            broken.append("%s -> %s" % (cur, href))
            continue
        if target.endswith(".html") and target not in seen:
            seen.add(target)
            queue.append(target)
missing = [r for r in reports if r not in seen]
check("every report is reachable from the home page", not missing,
      ", ".join(missing[:5]))
check("no link from a reachable page is broken", not broken, "; ".join(broken[:5]))
for kind in ("category/", "department/", "year/", "reports.html"):
    check("home reaches %s pages" % kind.rstrip("/."),
          any(p.startswith(kind) for p in seen))

# Fragments of every link resolve to an id of the target page.
badfrag = []
for rel in sorted(seen):
    for tag, _, href in load(rel).links:
        target, frag = resolve(rel, href)
        if target and frag and target.endswith(".html"):
            if frag not in load(target).ids:
                badfrag.append("%s -> %s" % (rel, href))
check("every #fragment resolves to an id", not badfrag, "; ".join(badfrag[:5]))

# Page structure on every page.
for rel in sorted(all_html):
    p = load(rel)
    problems = []
    if p.h1 != 1:
        problems.append("%d h1" % p.h1)
    if not p.lang:
        problems.append("no lang")
    dup = sorted({i for i in p.ids if p.ids.count(i) > 1})
    if dup:
        problems.append("duplicate ids " + ",".join(dup))
    if p.handlers:
        problems.append("inline handlers or script type " + ",".join(p.handlers))
    if not p.first_link or p.first_link[0] != "#main" or "main" not in p.ids:
        problems.append("no skip link to #main first")
    for label in ("主导航",):
        if label not in p.navs:
            problems.append("no nav " + label)
    check("structure of " + rel, not problems, "; ".join(problems))

# Breadcrumbs with JSON-LD on every page but the home page.
for rel in ["reports.html", "report/sfj-2023.html"] + \
        [p for p in all_html if p.startswith(("category/", "department/", "year/"))][:6]:
    p = load(rel)
    ld = None
    for text in p.ldjson:
        try:
            j = json.loads(text)
        except ValueError as e:
            check("JSON-LD parses on " + rel, False, str(e))
            continue
        if j.get("@type") == "BreadcrumbList":
            ld = j
    ok = "当前位置" in p.navs and ld is not None and \
        len(ld["itemListElement"]) == p.crumbs and p.crumbs >= 2 and \
        ld["itemListElement"][0]["name"] == "首页"
    check("breadcrumbs and BreadcrumbList on " + rel, ok,
          "crumbs=%d ld=%s" % (p.crumbs, ld and len(ld["itemListElement"])))
rp = load("report/sfj-2023.html")
lds = [json.loads(t) for t in rp.ldjson if '"BreadcrumbList"' in t]
names = [e["name"] for e in lds[0]["itemListElement"]] if lds else []
check("report breadcrumbs: 首页 > 法治政府建设 > category > department > year",
      names == ["首页", "法治政府建设", "市政府部门", "市司法局", "2023年"], str(names))

# Tables of contents: every entry is a heading of the page.
tocs = 0
for rel in reports:
    p = load(rel)
    if "目录" not in p.navs:
        continue
    tocs += 1
    bad = [h for h in p.navs["目录"]
           if not h.startswith("#") or urllib.parse.unquote(h[1:]) not in p.ids]
    check("table of contents anchors resolve in " + rel, not bad and p.navs["目录"],
          ", ".join(bad[:3]))
check("reports have a table of contents", tocs >= len(reports) // 2, "%d" % tocs)

# Previous and next years of the 市司法局 series (2021, 2022, 2023).
def yearnav(rel):
    p = load(rel)
    out = {}
    for tag, r, href in p.links:
        if tag == "a" and r in ("prev", "next") and href.startswith(("../report/", "")) \
                and resolve(rel, href)[0].startswith("report/"):
            out[r] = resolve(rel, href)[0]
    return out
sfj = {}
for rel in reports:
    m = load(rel).meta
    if m.get("ContentSource") == "市司法局" or "市司法局" in m.get("ArticleTitle", ""):
        year = re.search(r"(20\d\d)", m.get("ArticleTitle", "")).group(1)
        sfj[year] = rel
check("the 市司法局 series has 2021-2023", sorted(sfj) == ["2021", "2022", "2023"],
      str(sorted(sfj)))
if sorted(sfj) == ["2021", "2022", "2023"]:
    n21, n22, n23 = yearnav(sfj["2021"]), yearnav(sfj["2022"]), yearnav(sfj["2023"])
    check("2021 has no previous year and links 2022 as next",
          "prev" not in n21 and n21.get("next") == sfj["2022"], str(n21))
    check("2022 links 2021 and 2023", n22.get("prev") == sfj["2021"] and
          n22.get("next") == sfj["2023"], str(n22))
    check("2023 links 2022 and has no next year",
          n23.get("prev") == sfj["2022"] and "next" not in n23, str(n23))
    allyears = [resolve(sfj["2022"], h)[0] for h in load(sfj["2022"]).navs.get("市司法局各年度报告", [])]
    check("the year navigation lists the department's other years",
          sfj["2021"] in allyears and sfj["2023"] in allyears, str(allyears))

# Metadata line and attachments.
html = open(os.path.join(site, "report/sfj-2023.html"), encoding="utf-8").read()
check("metadata line with source and date_zh",
      "信息来源：市司法局" in html and "信息提供日期：" in html and "2024年2月6日" in html)
check("attachment link with its size",
      re.search(r'href="\.\./files/sfj-2023/[^"]+\.csv"[^>]*>[^<]+</a><span class="filesize">（\d+(\.\d)? [KMG]?B）', html) is not None)
check("back-to-top link", 'href="#top"' in html and "回到顶部" in html and 'id="top"' in html)

# Feeds and sitemap are well-formed XML.
xmls = ["atom.xml", "sitemap.xml"] + ["department/" + f for f in
        os.listdir(os.path.join(site, "department")) if f.endswith(".xml")]
for rel in xmls:
    try:
        root = ET.parse(os.path.join(site, rel)).getroot()
        ok = root.tag.endswith("feed") or root.tag.endswith("urlset")
        check("well-formed XML: " + rel, ok, root.tag)
    except ET.ParseError as e:
        check("well-formed XML: " + rel, False, str(e))
check("department feeds exist", len(xmls) > 3)
for rel in ("robots.txt", "404.html", "sitemap.xml"):
    check(rel + " exists", os.path.isfile(os.path.join(site, rel)))
nf = open(os.path.join(site, "404.html"), encoding="utf-8").read()
check("404 page links with absolute paths",
      'href="/assets/site.css"' in nf and 'href="/index.html"' in nf)
check("404 page is not indexed", 'name="robots" content="noindex"' in nf)

# Meta tags.
m = rp.meta
for key in ("description", "SiteName", "SiteDomain", "ColumnName", "ArticleTitle",
            "PubDate", "ContentSource", "og:title", "og:type", "og:url",
            "og:site_name", "og:description", "og:locale"):
    check("report meta " + key, m.get(key), repr(m.get(key)))
check("report meta values", m.get("ColumnName") == "市政府部门" and
      m.get("PubDate") == "2024-02-06" and m.get("ContentSource") == "市司法局" and
      m.get("og:locale") == "zh_CN" and m.get("og:type") == "article" and
      m.get("og:url", "").endswith("/report/sfj-2023.html"), str(m))
rels = {(r, h) for r, h, t in rp.rel}
check("canonical URL", any(r == "canonical" and h.startswith("https://") and
      h.endswith("report/sfj-2023.html") for r, h in rels), str(rels))
check("site feed alternate", any(r == "alternate" and h == "../atom.xml" for r, h in rels))
dp = load("department/市司法局.html")
check("department feed alternate", any(r == "alternate" and t == "application/atom+xml" and
      urllib.parse.unquote(h) == "../department/市司法局.xml" for r, h, t in dp.rel), str(dp.rel))
hp = load("index.html")
dl = [h for _, _, h in hp.links if h == "downloads.html"]
check("home links the downloads page, which exists",
      dl and os.path.isfile(os.path.join(site, "downloads.html")))
check("home meta", hp.meta.get("og:type") == "website" and hp.meta.get("SiteName") and
      "ArticleTitle" not in hp.meta)
done()
PY

# ---- a broken link in content is an error at its position ----
copy_project "$tmp/p1"
f="$tmp/p1/content/市司法局/2022.md"
printf '\n详见[上年度报告](../report/nope.html)和[本节](#没有这一节)。\n' >>"$f"
line=$(wc -l <"$f")
if "$FAZHI" build -C "$tmp/p1" -o "$tmp/p1/site" --quiet --no-bundles \
    >"$tmp/p1.out" 2>&1; then
	fail "broken content link fails the build" "exit 0"
else
	pass "broken content link fails the build"
fi
grep -q "^content/市司法局/2022.md:$line:3: error: broken link \"../report/nope.html\"" "$tmp/p1.out" &&
    pass "broken link reported at file:line:col" ||
    fail "broken link reported at file:line:col" "$(head -3 "$tmp/p1.out")"
grep -q "^content/市司法局/2022.md:$line:32: error: broken link \"#没有这一节\"" "$tmp/p1.out" &&
    pass "broken anchor reported at file:line:col" ||
    fail "broken anchor reported at file:line:col" "$(head -3 "$tmp/p1.out")"
[ ! -e "$tmp/p1/site" ] && pass "nothing published after a broken link" ||
    fail "nothing published after a broken link"
"$FAZHI" check -C "$tmp/p1" >"$tmp/p1c.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "2022.md:$line:3: error: broken link" "$tmp/p1c.out" &&
    pass "fazhi check reports broken links" ||
    fail "fazhi check reports broken links" "rc=$rc $(head -3 "$tmp/p1c.out")"
# #fragments into another report: a dry run (fazhi check) keeps every
# report page's ids (hashed), a build reads the target page.  The good
# one passes both, the bad one fails both at its position.
copy_project "$tmp/pf"
f="$tmp/pf/content/市司法局/2022.md"
printf '\n见[2023年举措](../report/sfj-2023.html#一-发挥行政复议化解行政争议主渠道作用)。\n' >>"$f"
good=$(wc -l <"$f")
"$FAZHI" check -C "$tmp/pf" >"$tmp/pf1.out" 2>&1 &&
    "$FAZHI" build -C "$tmp/pf" -o "$tmp/pf/site" --quiet --no-bundles >>"$tmp/pf1.out" 2>&1 &&
    pass "a fragment link to a heading of another report passes check and build" ||
    fail "a fragment link to a heading of another report passes check and build" "$(head -3 "$tmp/pf1.out")"
printf '\n见[没有的一节](../report/sfj-2023.html#没有这一节)。\n' >>"$f"
bad=$(wc -l <"$f")
"$FAZHI" check -C "$tmp/pf" >"$tmp/pf2.out" 2>&1; rc=$?
"$FAZHI" build -C "$tmp/pf" -o "$tmp/pf/site2" --quiet --no-bundles >"$tmp/pf3.out" 2>&1; rb=$?
[ $rc -eq 1 ] && [ $rb -eq 1 ] &&
    grep -q "^content/市司法局/2022.md:$bad:2: error: broken link" "$tmp/pf2.out" &&
    grep -q "^content/市司法局/2022.md:$bad:2: error: broken link" "$tmp/pf3.out" &&
    ! grep -q "2022.md:$good:" "$tmp/pf2.out" "$tmp/pf3.out" &&
    pass "a fragment link to a missing heading of another report fails check and build" ||
    fail "a fragment link to a missing heading of another report fails check and build" \
    "check $rc, build $rb: $(head -3 "$tmp/pf2.out") / $(head -3 "$tmp/pf3.out")"

grep -q "a theme or generator bug" "$tmp/p1.out" &&
    fail "a content link is not blamed on the theme" "$(grep 'theme' "$tmp/p1.out" | head -2)" ||
    pass "a content link is not blamed on the theme"

# A link written relative to the Markdown file gets a hint.
copy_project "$tmp/p2"
printf '\n见[2021年报告](2021.md)。\n' >>"$tmp/p2/content/市司法局/2022.md"
"$FAZHI" build -C "$tmp/p2" -o "$tmp/p2/site" --quiet --no-bundles >"$tmp/p2.out" 2>&1
grep -q 'error: broken link "2021.md"' "$tmp/p2.out" &&
    grep -q 'write "市司法局-2021.html"' "$tmp/p2.out" &&
    pass "a .md link is an error with a hint" ||
    fail "a .md link is an error with a hint" "$(head -3 "$tmp/p2.out")"

# Valid content links of every kind build cleanly.
copy_project "$tmp/p3"
cat >>"$tmp/p3/content/市司法局/2022.md" <<'EOF'

参见[2023年报告](sfj-2023.html#一-2023年推进法治政府建设的主要举措和成效)、[本部门](../department/%E5%B8%82%E5%8F%B8%E6%B3%95%E5%B1%80.html)、[附件](../files/sfj-2023/2023年行政复议案件统计表.csv)、[首页](/index.html)、[外部](https://www.gov.cn/)、[本页](#top)。
EOF
"$FAZHI" build -C "$tmp/p3" -o "$tmp/p3/site" --quiet --no-bundles >"$tmp/p3.out" 2>&1 &&
    pass "valid content links build" ||
    fail "valid content links build" "$(head -3 "$tmp/p3.out")"

# A broken link in a template is caught in the generated pages.
copy_project "$tmp/p4"
sed -i 's|<li><a href="{{ root }}reports.html">全部报告</a></li>|&<li><a href="{{ root }}missing.html">x</a></li>|' \
    "$tmp/p4/themes/default/templates/_footer.html"
if "$FAZHI" build -C "$tmp/p4" -o "$tmp/p4/site" --quiet --no-bundles >"$tmp/p4.out" 2>&1; then
	fail "a theme's broken link fails the build" "exit 0"
elif grep -q 'error: broken link "[./]*missing.html" in a generated page' "$tmp/p4.out" &&
    [ "$(grep -c 'missing.html' "$tmp/p4.out")" -eq 1 ]; then
	pass "a theme's broken link fails the build, reported once"
else
	fail "a theme's broken link fails the build, reported once" "$(head -3 "$tmp/p4.out")"
fi

# ---- pagination ----
copy_project "$tmp/p5"
sed -i 's/^page_size: .*/page_size: 2/' "$tmp/p5/site.yaml"
if "$FAZHI" build -C "$tmp/p5" -o "$tmp/p5/site" --quiet --no-bundles >"$tmp/p5.out" 2>&1; then
	pass "site with page_size 2 builds"
	python3 - "$tmp/p5/site" <<'PY' || fails=$((fails + 1))
import os, re, sys, urllib.parse
site = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "e2e"))
from pycheck import check, done
def page(rel):
    return open(os.path.join(site, rel), encoding="utf-8").read()
def head_rel(html, r):
    m = re.search(r'<link rel="%s" href="([^"]+)">' % r, html)
    return m and m.group(1)
def body_rel(html, r):
    m = re.search(r'<a rel="%s" href="([^"]+)">' % r, html)
    return m and m.group(1)
n = len([f for f in os.listdir(site) if re.fullmatch(r"reports(-\d+)?\.html", f)])
check("all reports split into pages of 2", n >= 8, str(n))
first, second, last = page("reports.html"), page("reports-2.html"), page("reports-%d.html" % n)
check("first page: rel=next, no rel=prev", head_rel(first, "next") == "reports-2.html"
      and head_rel(first, "prev") is None and body_rel(first, "next") == "reports-2.html")
check("second page: rel=prev and rel=next", head_rel(second, "prev") == "reports.html"
      and head_rel(second, "next") == "reports-3.html"
      and body_rel(second, "prev") == "reports.html")
check("last page: rel=prev, no rel=next", head_rel(last, "prev") == "reports-%d.html" % (n - 1)
      and head_rel(last, "next") is None)
check("pager marks the current page", re.search(r'aria-current="page">2<', second) is not None)
check("pager is a labelled nav", '<nav class="pager" aria-label="分页">' in second)
count = len(re.findall(r'<li class="report-item">', second))
check("two reports per page", count == 2, str(count))
check("without bundles no page links downloads.html",
      not any("downloads.html" in page(p) for p in ("index.html", "reports.html"))
      and not os.path.exists(os.path.join(site, "downloads.html")))
d1 = page("department/市司法局.html")
check("department pages paginate", os.path.exists(os.path.join(site, "department/市司法局-2.html"))
      and urllib.parse.unquote(head_rel(d1, "next") or "") == "../department/市司法局-2.html")
done()
PY
else
	fail "site with page_size 2 builds" "$(head -3 "$tmp/p5.out")"
fi

[ $fails -eq 0 ]
