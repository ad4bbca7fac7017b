#!/usr/bin/env python3
"""gen_reports.py CONTENT_DIR PAYLOADS MARKDOWN: one report per payload.

Each payload goes into every front-matter text field (title, department,
source, summary, the site's extra field credit) and into the Markdown
contexts a writer can reach: heading, paragraph, list, quote, table
cell, link and image URL and title, code span, fence info string and
code block, and a stats block.  The first report also carries
MARKDOWN, the Markdown-specific vectors, and an attachment whose file
name is a payload.
"""
import json
import os
import sys

content, payloads, markdown = sys.argv[1:4]
lines = [l.rstrip("\n") for l in open(payloads, encoding="utf-8")]
lines = [l for l in lines if l and not l.startswith("#")]


def q(s):
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(s, ensure_ascii=False)


for i, p in enumerate(lines):
    d = os.path.join(content, "r%02d" % i)
    os.makedirs(d, exist_ok=True)
    att = []
    if i == 0:
        name = '"><svg onload=alert(1)> & <script>.csv'
        open(os.path.join(d, name), "w").write("a,b\n1,2\n")
        att = [name]
    # Relative URLs must resolve (the link check), so the payload goes
    # into an absolute URL, except payloads that are URLs themselves.
    url = p.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    if not p.startswith(("javascript:", "data:", "vbscript:")):
        url = "https://example.com/?q=" + url
    body = f"""
## {p}

{p}

- {p}

> {p}

| 项目 | {p} |
|---|---|
| {p} | 1 |

[链接]({url} "{p.replace('"', '&quot;')}") ![图]({url})

`{p.replace('`', '')}`

```{p.replace('`', '')}
{p}
```

```stats
title: {q(p)}
unit: {q(p)}
{q(p)}: {i + 1}
```
"""
    if i == 0:
        body += "\n" + open(markdown, encoding="utf-8").read()
    fm = "\n".join([
        "---",
        "title: " + q(p + " 报告%d" % i),
        # department is limited to 200 bytes
        "department: " + q(p[:120] + " 局%d" % i),
        "year: 2023",
        "category: 市政府部门",
        "date: 2024-01-%02d" % (i % 28 + 1),
        "source: " + q(p),
        "summary: " + q(p),
        "credit: " + q(p),
    ] + (["attachments: " + json.dumps(att, ensure_ascii=False)] if att else [])
      + ["---", ""])
    open(os.path.join(d, "2023.md"), "w", encoding="utf-8").write(fm + body)
print(len(lines))
