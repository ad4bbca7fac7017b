#!/usr/bin/env bash
# Zip bundles of the built portal: every zip passes `unzip -t` and
# Python's zipfile (names, CRCs, UTF-8 flag, modes, dates, sorted
# entries); contents equal the sources byte for byte and 清单.txt lists
# them with their SHA-256; standalone pages have no external reference;
# pages link their bundle with `download` and its exact size; the
# whole-site zip browses offline; builds are reproducible; --no-bundles
# and `fazhi check` write no zip.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v unzip >/dev/null || { echo "FAIL unzip is installed (make deps)"; exit 0; }
command -v python3 >/dev/null || { echo "FAIL python3 is installed (make deps)"; exit 0; }

mkdir -p "$T/p"
cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$T/p/"
[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$T/p/"
unset SOURCE_DATE_EPOCH

if ! "$FAZHI" build -C "$T/p" -o "$T/a" --quiet >"$T/log" 2>&1; then
	echo "FAIL the sample site builds with bundles: $(head -5 "$T/log")"
	exit 0
fi
echo "PASS the sample site builds with bundles"

# unzip -t on every bundle.
bad=0 n=0
while IFS= read -r -d '' z; do
	n=$((n + 1))
	unzip -tq "$z" >"$T/ut" 2>&1 || { bad=1; echo "FAIL unzip -t ${z#$T/a/}: $(head -3 "$T/ut")"; }
done < <(find "$T/a/bundles" -name '*.zip' -print0)
[ "$n" -gt 0 ] && [ $bad = 0 ] && echo "PASS unzip -t accepts all $n bundles"
[ "$n" = 0 ] && echo "FAIL there are bundles under bundles/"

# The rest is easier in Python; it prints PASS/FAIL lines itself.
python3 - "$T/a" "$T/p" <<'PY'
import hashlib, html.parser, os, re, sys, urllib.parse, zipfile

site, proj = sys.argv[1], sys.argv[2]
B = os.path.join(site, "bundles")
fails = {}
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "e2e"))
from pycheck import check, done

def fail(name, why):
    fails.setdefault(name, why)

zips = sorted(os.path.join(d, f) for d, _, fs in os.walk(B) for f in fs)
rel = lambda p: os.path.relpath(p, site)

# Front matter of the sources, read the simple way the sample is written.
reports = []
for d, _, fs in os.walk(os.path.join(proj, "content")):
    for f in sorted(fs):
        if not f.endswith(".md"):
            continue
        path = os.path.join(d, f)
        data = open(path, "rb").read()
        text = data.decode("utf-8-sig")
        fm = text.split("---", 2)[1]
        meta = {}
        for line in fm.splitlines():
            m = re.match(r"^([a-z_]+):\s*(.*?)\s*$", line)
            if m:
                meta[m.group(1)] = m.group(2).strip('"\'')
        atts = re.findall(r"[^\[\],\s]+", meta.get("attachments", "").strip("[]"))
        reports.append(dict(path=path, data=data, dept=meta["department"],
                            year=meta["year"], cat=meta["category"],
                            title=meta["title"], atts=atts, slug=meta.get("slug")))

# Zip structure, CRCs, names, flags, modes, order, dates; manifests.
contents = {}
for z in zips:
    r = rel(z)
    try:
        zf = zipfile.ZipFile(z)
    except Exception as e:
        fail("Python zipfile opens every bundle", "%s: %s" % (r, e))
        continue
    bad = zf.testzip()
    if bad is not None:
        fail("Python zipfile checks every CRC", "%s: %s" % (r, bad))
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if names != sorted(names, key=lambda s: s.encode()):
        fail("entries are sorted by name", r)
    if len({i.date_time for i in infos}) != 1:
        fail("all entries of a bundle share one date", r)
    for i in infos:
        if not i.filename.isascii() and not i.flag_bits & 0x800:
            fail("non-ASCII names carry the UTF-8 flag (bit 11)", "%s: %s" % (r, i.filename))
        if (i.external_attr >> 16) != 0o100644 or i.create_system != 3:
            fail("entries are regular files, mode 0644, made by Unix", "%s: %s %o" % (r, i.filename, i.external_attr >> 16))
        if i.filename.startswith("/") or ".." in i.filename.split("/") or "\\" in i.filename:
            fail("entry names are safe relative paths", "%s: %s" % (r, i.filename))
    files = {n: zf.read(n) for n in names}
    contents[r] = files
    man = files.get("清单.txt")
    if man is None:
        fail("every bundle has 清单.txt", r)
        continue
    listed = {}
    for line in man.decode("utf-8").splitlines():
        m = re.match(r"^([0-9a-f]{64})  (\d+)  (.+)$", line)
        if m:
            listed[m.group(3)] = (m.group(1), int(m.group(2)))
    for n, data in files.items():
        if n == "清单.txt":
            continue
        if n not in listed:
            fail("清单.txt lists every file", "%s: %s" % (r, n))
        elif listed[n] != (hashlib.sha256(data).hexdigest(), len(data)):
            fail("清单.txt checksums and sizes are right", "%s: %s" % (r, n))
    if set(listed) - set(files):
        fail("清单.txt lists only files in the zip", r)
for name in ["Python zipfile opens every bundle", "Python zipfile checks every CRC",
             "entries are sorted by name", "all entries of a bundle share one date",
             "non-ASCII names carry the UTF-8 flag (bit 11)",
             "entries are regular files, mode 0644, made by Unix",
             "entry names are safe relative paths", "every bundle has 清单.txt",
             "清单.txt lists every file", "清单.txt checksums and sizes are right",
             "清单.txt lists only files in the zip"]:
    check(name, name not in fails and zips, fails.get(name, "no bundles"))

# Contents equal the sources, in the report's, department's, year's and category's zip.
def key(s):  # the file-name form of a group name (content.c)
    return "".join("-" if c in '/\\?#%"<>|*: ' or ord(c) < 32 else c for c in s)

ok, why = True, ""
for rp in reports:
    d = "%s/%s/" % (key(rp["dept"]), rp["year"])
    holders = [r for r, files in contents.items()
               if any(n.startswith(d) and n.endswith(".md") and v == rp["data"] for n, v in files.items())]
    want = {"bundles/department/%s.zip" % key(rp["dept"]), "bundles/year/%s.zip" % rp["year"],
            "bundles/category/%s.zip" % key(rp["cat"])}
    own = [h for h in holders if h.startswith("bundles/report/")]
    if not want <= set(holders) or len(own) != 1 or "bundles/全站.zip" in holders:
        ok, why = False, "%s is in %s" % (rp["path"], sorted(holders))
        break
    files = contents[own[0]]
    if d + "index.html" not in files:
        ok, why = False, "%s has no %sindex.html" % (own[0], d)
        break
    for a in rp["atts"]:
        src = open(os.path.join(os.path.dirname(rp["path"]), a), "rb").read()
        for h in [own[0]] + sorted(want):
            if contents[h].get(d + "附件/" + a) != src:
                ok, why = False, "%s: %s附件/%s differs from the source" % (h, d, a)
check("bundle contents equal the sources byte for byte", ok and reports, why or "no reports")

sfj = [r for r in reports if r["atts"]]
csv = "市司法局/2023/附件/2023年行政复议案件统计表.csv"
found = [r for r, f in contents.items() if csv in f]
check("the Chinese attachment name survives in its report's and groups' zips",
      len(found) >= 4 and any(r.startswith("bundles/report/") for r in found), found)

# Standalone pages: nothing fetched from anywhere.
class Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad, self.hrefs = [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link":
            self.bad.append("<link>")
        if tag == "base":
            self.bad.append("<base>")
        for k in ("src", "poster", "srcset", "data", "background"):
            v = a.get(k)
            if v is not None and not v.startswith("data:"):
                self.bad.append("<%s %s=%s>" % (tag, k, v[:60]))
        if a.get("href") is not None:
            self.hrefs.append(a["href"])
    handle_startendtag = handle_starttag

ok, why, pages = True, "", 0
for r, files in contents.items():
    for n, data in files.items():
        if not n.endswith("/index.html") or r == "bundles/全站.zip":
            continue
        pages += 1
        text = data.decode("utf-8")
        p = Refs()
        p.feed(text)
        styles = " ".join(re.findall(r"<style[^>]*>(.*?)</style>", text, re.S))
        bad = p.bad + [u for u in re.findall(r"url\(\s*['\"]?([^'\")]*)", styles) if not u.startswith("data:")]
        bad += ["@import"] if "@import" in styles else []
        for h in p.hrefs:
            if h.startswith(("#", "https://", "http://", "mailto:")):
                continue
            target = os.path.dirname(n) + "/" + urllib.parse.unquote(h.split("#")[0])
            if target not in files:
                bad.append("href %s does not resolve inside the zip" % h)
        if "<style" not in text:
            bad.append("no inline CSS")
        if bad:
            ok, why = False, "%s %s: %s" % (r, n, bad[:3])
check("standalone pages have no external reference (%d checked)" % pages, ok and pages > 0, why or "none")

# Download links with the download attribute and the exact size.
def filesize(x):
    if x < 1024:
        return "%d B" % x
    v, u = x / 1024, 0
    while u < 4 and int(v * 10 + 0.5) >= 10240:
        v, u = v / 1024, u + 1
    return "%.1f %s" % (v, ["KB", "MB", "GB", "TB", "PB"][u])

def links_to(page, zrel):
    text = open(os.path.join(site, page), encoding="utf-8").read()
    depth = page.count("/")
    url = "../" * depth + urllib.parse.quote(zrel)
    m = re.search(r'<a href="%s" download>.*?</a>\s*<span class="filesize">（ZIP，([^）]+)）' % re.escape(url), text, re.S)
    if not m:
        return "%s has no download link to %s" % (page, url)
    want = filesize(os.path.getsize(os.path.join(site, zrel)))
    return None if m.group(1) == want else "%s shows %s for %s, the file has %s" % (page, m.group(1), zrel, want)

errs = []
for rp in reports:
    slug = rp["slug"] or "%s-%s" % (key(rp["dept"]), rp["year"])
    errs.append(links_to("report/%s.html" % slug, "bundles/report/%s.zip" % slug))
    errs.append(links_to("department/%s.html" % key(rp["dept"]), "bundles/department/%s.zip" % key(rp["dept"])))
    errs.append(links_to("year/%s.html" % rp["year"], "bundles/year/%s.zip" % rp["year"]))
    errs.append(links_to("category/%s.html" % key(rp["cat"]), "bundles/category/%s.zip" % key(rp["cat"])))
errs = [e for e in errs if e]
check("report, department, year and category pages link their bundle with its size", not errs, errs[:2])
errs = [e for e in (links_to("downloads.html", rel(z)) for z in zips) if e]
check("downloads.html links every bundle (%d) with its size" % len(zips), not errs, errs[:2])

# The whole-site zip: the portal, browsable from file://.
whole = contents.get("bundles/全站.zip", {})
off = os.path.join(site, "..", "offline")
for n, data in whole.items():
    p = os.path.join(off, n)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)
published = sorted(os.path.relpath(os.path.join(d, f), site) for d, ds, fs in os.walk(site) for f in fs)
published = [p for p in published if not p.startswith("bundles/") and
             not any(c.startswith(".") for c in p.split("/"))]
inzip = sorted(n for n in whole if n != "清单.txt")
check("the whole-site zip holds every published file but the zips",
      inzip == published and "index.html" in whole,
      "missing %s, extra %s" % (sorted(set(published) - set(inzip))[:3], sorted(set(inzip) - set(published))[:3]))

class Hrefs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []
    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.urls.append(v)
    handle_startendtag = handle_starttag

broken, checked = [], 0
for n in inzip:
    if not n.endswith(".html"):
        continue
    p = Hrefs()
    p.feed(whole[n].decode("utf-8"))
    for u in p.urls:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#", u):
            continue
        path = urllib.parse.unquote(u.split("#")[0].split("?")[0])
        if n == "404.html" and path.startswith("/"):
            continue  # served for any URL, its links are absolute paths
        t = os.path.normpath(os.path.join(off, os.path.dirname(n), path))
        if os.path.isdir(t):
            t = os.path.join(t, "index.html")
        checked += 1
        if not os.path.isfile(t):
            broken.append("%s: %s" % (n, u))
check("every relative link in the offline copy resolves (%d links)" % checked,
      checked > 0 and not broken, broken[:3])
dl = whole.get("downloads.html", b"").decode("utf-8")
check("the offline downloads page links the published bundles",
      "离线副本" in dl and 'href="https://' in dl and 'href="bundles/' not in dl, dl[:80])
PY

# Reproducible: a second build, another time zone and job count, same bytes.
sleep 1
TZ=Asia/Shanghai FAZHI_JOBS=1 "$FAZHI" build -C "$T/p" -o "$T/b" --quiet >/dev/null 2>&1
if diff -r "$T/a/bundles" "$T/b/bundles" >"$T/diff" 2>&1; then
	echo "PASS two builds give identical bundles"
else
	echo "FAIL two builds give identical bundles: $(head -3 "$T/diff")"
fi
if cmp -s "$T/a/downloads.html" "$T/b/downloads.html"; then
	echo "PASS two builds give identical download pages"
else
	echo "FAIL two builds give identical download pages"
fi

# SOURCE_DATE_EPOCH fixes every entry's date.
SOURCE_DATE_EPOCH=1700000000 "$FAZHI" build -C "$T/p" -o "$T/e" --quiet >/dev/null 2>&1
python3 - "$T/e/bundles" <<'PY'
import os, sys, zipfile
dates = set()
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        dates |= {i.date_time for i in zipfile.ZipFile(os.path.join(d, f)).infolist()}
want = {(2023, 11, 14, 22, 13, 20)}
print(("PASS" if dates == want else "FAIL") + " SOURCE_DATE_EPOCH sets the date of every entry" +
      ("" if dates == want else ": %s" % sorted(dates)[:3]))
PY

# An unchanged rebuild in place reuses pages and gives the same bundles.
cp -r "$T/a" "$T/inc"
"$FAZHI" build -C "$T/p" -o "$T/inc" >"$T/log" 2>&1
n=$(find "$T/p/content" -name '*.md' | wc -l)
if grep -qE "Reports +\| $n \($n reused\)" "$T/log" && diff -r "$T/a" "$T/inc" >/dev/null 2>&1; then
	echo "PASS an unchanged rebuild reuses every report page and rewrites the same bundles"
else
	echo "FAIL an unchanged rebuild reuses every report page and rewrites the same bundles: $(grep Reports "$T/log")"
fi

# A stylesheet change reaches the standalone pages (and the page sizes) incrementally.
echo "/* 新样式 */" >>"$T/p/themes/default/static/site.css"
"$FAZHI" build -C "$T/p" -o "$T/inc" --quiet >/dev/null 2>&1
rm -rf "$T/cold"; "$FAZHI" build -C "$T/p" -o "$T/cold" --quiet >/dev/null 2>&1
if unzip -p "$T/inc/bundles/report/sfj-2023.zip" 市司法局/2023/index.html | grep -q "新样式" &&
    diff -r "$T/inc" "$T/cold" >"$T/diff" 2>&1; then
	echo "PASS a CSS change rebuilds the standalone pages, same as a cold build"
else
	echo "FAIL a CSS change rebuilds the standalone pages, same as a cold build: $(head -3 "$T/diff")"
fi

# --no-bundles and site.yaml `bundles: false` skip them.
"$FAZHI" build -C "$T/p" -o "$T/n" --quiet --no-bundles >/dev/null 2>&1
if [ -f "$T/n/index.html" ] && [ ! -e "$T/n/bundles" ] && [ ! -e "$T/n/downloads.html" ] &&
    ! grep -rq 'bundles/\|downloads.html' "$T/n" --include='*.html'; then
	echo "PASS --no-bundles writes no bundle and no download link"
else
	echo "FAIL --no-bundles writes no bundle and no download link"
fi
sed -i 's/^bundles: true/bundles: false/' "$T/p/site.yaml"
grep -q '^bundles: false' "$T/p/site.yaml" || echo "bundles: false" >>"$T/p/site.yaml"
"$FAZHI" build -C "$T/p" -o "$T/f" --quiet >/dev/null 2>&1
if [ -f "$T/f/index.html" ] && [ ! -e "$T/f/bundles" ]; then
	echo "PASS site.yaml bundles: false writes no bundle"
else
	echo "FAIL site.yaml bundles: false writes no bundle"
fi
sed -i 's/^bundles: false/bundles: true/' "$T/p/site.yaml"

# The standalone page of a report with links, an attached image, remote
# images and (with unsafe_html) raw HTML that would fetch things.
mkdir -p "$T/p/content/测试局"
printf '\x89PNG\r\n\x1a\nnot-really-a-png' >"$T/p/content/测试局/图 1.png"
cat >"$T/p/content/测试局/2023.md" <<'EOF'
---
title: 测试局2023年法治政府建设年度报告
department: 测试局
year: 2023
category: 区政府
date: 2024-01-15
attachments: [图 1.png]
---

## 一、主要举措和成效

见[附件图](../files/测试局-2023/图%201.png)、[司法局报告](sfj-2023.html)、[首页](../index.html?x=1#top)、[外部](https://example.com/a)和[本节](#附注说明)。

<p id="附注说明">附注。</p>

![图一](../files/测试局-2023/图%201.png "标题")

![外部图](https://example.com/x.png)

<link rel="stylesheet" href="https://example.com/x.css"><script src="https://example.com/x.js"></script><img src='//example.com/y.png' srcset="https://example.com/z.png 2x" alt="原始">
EOF
sed -i 's/^unsafe_html: false/unsafe_html: true/' "$T/p/site.yaml"
if "$FAZHI" build -C "$T/p" -o "$T/s" --quiet >"$T/log" 2>&1; then
	unzip -p "$T/s/bundles/report/测试局-2023.zip" 测试局/2023/index.html >"$T/sa.html"
	body=$(sed -n '/<div class="report-body">/,/<\/div>/p' "$T/sa.html")
	want_ok=1
	for want in 'href="附件/%E5%9B%BE%201.png"' 'href="https://fzzf.example.gov.cn/report/sfj-2023.html"' \
	    'href="https://fzzf.example.gov.cn/index.html?x=1#top"' 'href="https://example.com/a"' \
	    'href="#%E9%99%84%E6%B3%A8%E8%AF%B4%E6%98%8E"' \
	    'src="data:image/png;base64,iVBORw0KGgpub3QtcmVhbGx5LWEtcG5n"'; do
		grep -qF "$want" <<<"$body" || { want_ok=0; echo "FAIL standalone page rewrites links and inlines attached images: no $want"; }
	done
	[ $want_ok = 1 ] && echo "PASS standalone page rewrites links and inlines attached images"
	if grep -qiE '<link|<script[^>]*src|src="(https?:)?//|srcset=' "$T/sa.html"; then
		echo "FAIL raw HTML in a standalone page fetches nothing: $(grep -oiE '<link[^>]*>|<script[^>]*src[^>]*>|src="(https?:)?//[^"]*"|srcset="[^"]*"' "$T/sa.html" | head -3)"
	else
		echo "PASS raw HTML in a standalone page fetches nothing"
	fi
	if cmp -s "$T/p/content/测试局/图 1.png" <(unzip -p "$T/s/bundles/report/测试局-2023.zip" "测试局/2023/附件/图 1.png"); then
		echo "PASS an attachment with a space in its name is in the bundle"
	else
		echo "FAIL an attachment with a space in its name is in the bundle"
	fi
else
	echo "FAIL the site with an unusual report builds: $(head -3 "$T/log")"
fi
sed -i 's/^unsafe_html: true/unsafe_html: false/' "$T/p/site.yaml"
rm -r "$T/p/content/测试局"

# fazhi check renders the bundles' pages but writes nothing.
if (cd "$T" && "$FAZHI" check -C "$T/p" >"$T/log" 2>&1) && [ ! -e "$T/p/site" ]; then
	echo "PASS fazhi check passes with bundles on and writes nothing"
else
	echo "FAIL fazhi check passes with bundles on and writes nothing: $(head -3 "$T/log")"
fi
exit 0
