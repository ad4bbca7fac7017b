#!/usr/bin/env python3
"""check_site.py: is a built site free of markup injected by content?

usage: check_site.py SITE BASELINE BASE_URL LABEL [PAYLOADS...]

SITE is a site built from hostile content, BASELINE the same theme's
build of the sample content.  Every HTML file (and every HTML file in a
zip bundle) is parsed as a browser would tokenize it, and must use only
the tags and tag/attribute pairs that the baseline, the Markdown
renderer or the bundled filters produce; no event-handler attribute; no
URL attribute with a script-running scheme; no <script> except the
theme's own (external, or JSON-LD that parses and holds no '<').  XML
files must be well-formed, feeds and sitemaps must link only under
BASE_URL.  Zip entry names must be relative and free of '..' (zip-slip).
Prints one PASS or FAIL line per check, prefixed by LABEL.
"""
import html
import html.parser
import io
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

SITE, BASELINE, BASE_URL, LABEL = sys.argv[1:5]
# Optional: files of payloads, one a line, that must never appear verbatim.
RAW = []
for f in sys.argv[5:]:
    for line in open(f, encoding="utf-8"):
        line = line.rstrip("\n")
        if "<" in line and not line.startswith("#"):
            RAW.append(line.encode())

# What cmark-gfm's renderer and markdown.c write.
MD_TAGS = set("a blockquote br code del div em h1 h2 h3 h4 h5 h6 hr img li ol p "
              "pre strong table tbody td th thead tr ul".split())
MD_ATTRS = set("href src alt title id class style start role tabindex "
               "aria-label".split())
# What the bundled filters write (filters/*.lua).
FILTER_TAGS = set("section figure figcaption caption svg title desc text rect g "
                  "line span".split())
FILTER_ATTRS = set("aria-labelledby aria-describedby xmlns viewbox width height "
                   "font-size fill fill-opacity x y text-anchor scope class id "
                   "role".split())
URL_ATTRS = set("href src action formaction xlink:href poster background data "
                "srcset cite codebase dynsrc lowsrc".split())
SAFE_DATA_IMG = re.compile(r"data:image/(png|gif|jpeg|webp)[;,]")
SAFE_STYLE = re.compile(r"^\s*text-align:\s*(left|right|center)\s*;?\s*$")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = set()
        self.pairs = set()
        self.styles = set()
        self.events = []          # (tag, attr, value)
        self.urls = []            # (tag, attr, value)
        self.scripts = []         # (attrs, body)
        self._script = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            self.pairs.add((tag, k))
            if k.startswith("on"):
                self.events.append((tag, k, v))
            if k in URL_ATTRS or (tag == "meta" and k == "content" and
                                  dict(attrs).get("http-equiv")):
                self.urls.append((tag, k, v or ""))
            if k == "style":
                self.styles.add(v or "")
        if tag == "script":
            self._script = (dict(attrs), [])

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)
        else:
            self.text.append(data)


def parse(data):
    p = Page()
    p.feed(data.decode("utf-8", "replace"))
    p.close()
    if p._script is not None:
        p.scripts.append((p._script[0], "".join(p._script[1])))
    return p


def bad_url(tag, value):
    v = html.unescape(value)
    v = re.sub(r"^[\x00-\x20]+", "", v)
    v = re.sub(r"[\t\n\r]", "", v).lower()
    if v.startswith(("javascript:", "vbscript:", "file:", "livescript:")):
        return True
    if v.startswith("data:"):
        return not (tag == "img" and SAFE_DATA_IMG.match(v))
    if "url=" in v and tag == "meta":
        return True
    return False


def walk(root):
    for d, _, files in os.walk(root):
        for f in sorted(files):
            yield os.path.join(d, f)


# ---- the baseline: what the theme itself writes ----
base_tags, base_pairs, base_styles, base_inline = set(), set(), set(), set()
base_urls = set()   # (tag, attr, value): the theme's own, e.g. a data: favicon

def baseline_pages():
    for path in walk(BASELINE):
        if path.endswith(".html"):
            yield open(path, "rb").read()
        elif path.endswith(".zip"):
            z = zipfile.ZipFile(path)
            for n in z.namelist():
                if n.endswith(".html"):
                    yield z.read(n)


for data in baseline_pages():
    p = parse(data)
    base_tags |= p.tags
    base_pairs |= p.pairs
    base_styles |= p.styles
    base_urls |= set(p.urls)
    for attrs, body in p.scripts:
        if "src" not in attrs and attrs.get("type") != "application/ld+json":
            base_inline.add(body)
allowed_tags = base_tags | MD_TAGS | FILTER_TAGS
allowed_attrs = MD_ATTRS | FILTER_ATTRS

problems = {}       # check name -> list of messages


def problem(check, msg):
    problems.setdefault(check, []).append(msg)


def check_html(name, data):
    p = parse(data)
    for t in sorted(p.tags - allowed_tags):
        problem("only known elements", "%s: <%s>" % (name, t))
    for t, a in sorted(p.pairs):
        if (t, a) not in base_pairs and a not in allowed_attrs:
            problem("only known attributes", "%s: <%s %s=…>" % (name, t, a))
    for t, a, v in p.events:
        problem("no event-handler attributes", "%s: <%s %s=%r>" % (name, t, a, v))
    for t, a, v in p.urls:
        if (t, a, v) not in base_urls and bad_url(t, v):
            problem("no javascript:/data:/vbscript: URLs",
                    "%s: <%s %s=%r>" % (name, t, a, v[:80]))
    for s in p.styles - base_styles:
        if not SAFE_STYLE.match(s):
            problem("no style attributes from content", "%s: style=%r" % (name, s))
    for attrs, body in p.scripts:
        if attrs.get("type") == "application/ld+json":
            if "<" in body:
                problem("JSON-LD holds no '<'", "%s: %r" % (name, body[:80]))
            try:
                doc = json.loads(body)
            except ValueError as e:
                problem("JSON-LD parses", "%s: %s" % (name, e))
                continue
            for url in re.findall(r'"(?:url|item|@id)":\s*"([^"]*)"', json.dumps(doc)):
                if not url.startswith(BASE_URL):
                    problem("JSON-LD links stay on the site", "%s: %s" % (name, url))
        elif "src" in attrs:
            if body.strip():
                problem("no inline script", "%s: %r" % (name, body[:80]))
            if re.match(r"^[a-z]+:|^//", attrs["src"] or "", re.I):
                problem("scripts only from the site", "%s: %s" % (name, attrs["src"]))
        elif body not in base_inline:
            problem("no inline script", "%s: %r" % (name, body[:80]))
    return p


ATOM = "{http://www.w3.org/2005/Atom}"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
nhtml = nxml = nzip = 0
for path in walk(SITE):
    rel = os.path.relpath(path, SITE)
    if re.search(r"[\x00-\x1f\\]", rel):
        problem("output file names are clean", repr(rel))
    if os.path.islink(path):
        problem("no symbolic links in the output", rel)
    data = open(path, "rb").read()
    # A payload that holds '<' and comes out verbatim was not escaped.
    for pl in RAW:
        if pl in data:
            problem("no payload verbatim in any file", "%s: %r" % (rel, pl[:60]))
            break
    if rel.endswith(".html"):
        nhtml += 1
        check_html(rel, data)
    elif rel.endswith(".xml"):
        nxml += 1
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            problem("feeds and sitemap are well-formed XML", "%s: %s" % (rel, e))
            continue
        for el in root.iter():
            if el.tag.startswith(ATOM):
                if el.tag == ATOM + "link" and not el.get("href", "").startswith(BASE_URL):
                    problem("feed links stay on the site", "%s: %s" % (rel, el.get("href")))
                if el.tag == ATOM + "id" and not (el.text or "").startswith(BASE_URL):
                    problem("feed links stay on the site", "%s: id %s" % (rel, el.text))
                if el.get("type") in ("html", "xhtml"):
                    check_html(rel + ":" + el.tag, (el.text or "").encode())
            elif el.tag.startswith(SM):
                if el.tag == SM + "loc" and not (el.text or "").startswith(BASE_URL):
                    problem("sitemap links stay on the site", "%s: %s" % (rel, el.text))
            else:
                problem("feeds hold only Atom or sitemap elements", "%s: %s" % (rel, el.tag))
    elif rel.endswith(".zip"):
        nzip += 1
        try:
            z = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            problem("bundles are valid zips", "%s: %s" % (rel, e))
            continue
        for info in z.infolist():
            n = info.filename
            parts = n.split("/")
            if (n.startswith("/") or "\\" in n or re.match(r"^[A-Za-z]:", n) or
                    ".." in parts or "." in parts or "" in parts[:-1] or
                    re.search(r"[\x00-\x1f]", n)):
                problem("no zip-slip entry names", "%s: %r" % (rel, n))
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                problem("no symbolic links in bundles", "%s: %r" % (rel, n))
            if n.endswith(".html"):
                check_html(rel + ":" + n, z.read(info))
        if z.testzip() is not None:
            problem("bundles are valid zips", "%s: bad CRC" % rel)

checks = ["only known elements", "only known attributes", "no event-handler attributes",
          "no javascript:/data:/vbscript: URLs", "no style attributes from content",
          "no inline script", "scripts only from the site", "JSON-LD parses",
          "JSON-LD holds no '<'", "JSON-LD links stay on the site",
          "no payload verbatim in any file", "output file names are clean",
          "no symbolic links in the output", "feeds and sitemap are well-formed XML",
          "feed links stay on the site", "sitemap links stay on the site",
          "feeds hold only Atom or sitemap elements"]
if nzip:
    checks += ["bundles are valid zips", "no zip-slip entry names",
               "no symbolic links in bundles"]
for c in checks + sorted(set(problems) - set(checks)):
    msgs = problems.get(c)
    what = "%s (%d HTML, %d XML, %d zip)" % (c, nhtml, nxml, nzip)
    if msgs:
        print("FAIL %s: %s: %s%s" % (LABEL, what, "; ".join(msgs[:3]),
                                       " (+%d more)" % (len(msgs) - 3) if len(msgs) > 3 else ""))
    else:
        print("PASS %s: %s" % (LABEL, what))
if nzip == 0:
    print("SKIP %s: no zip bundles in the output: zip-slip not checked" % LABEL)
sys.exit(1 if problems else 0)
