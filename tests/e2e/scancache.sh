#!/usr/bin/env bash
# The scan cache (OUT.fazhi-scan, beside OUT): a rebuild takes unchanged reports
# from it instead of reading them, and its output (the cache included)
# and its diagnostics are those of a cold build after every kind of
# change; a damaged cache is ignored.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export FAZHI_DEBUG_SCAN=1
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
mkdir -p "$T/p"
cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$T/p/"
[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$T/p/"
P=$T/p
n=$(find "$P/content" -name '*.md' | wc -l)

# Build in place (with the cache) and cold into a fresh directory; the
# trees and the diagnostics must be the same (the cache itself is beside
# the tree: it records inodes and times, which the site must not hold).
# Sets $scan to the in-place build's "N cached, M read".
same_as_cold() {
	local label=$1 st1 st2
	"$FAZHI" build -C "$P" --quiet --no-bundles >"$T/inc.log" 2>&1; st1=$?
	scan=$(sed -n 's/^fazhi: scan: //p' "$T/inc.log")
	rm -rf "$T/cold"
	"$FAZHI" build -C "$P" -o "$T/cold" --quiet --no-bundles >"$T/cold.log" 2>&1; st2=$?
	grep -v '^fazhi: scan: ' "$T/inc.log" >"$T/inc.diag"
	grep -v '^fazhi: scan: ' "$T/cold.log" >"$T/cold.diag"
	if [ $st1 -ne $st2 ]; then
		fail "$label" "exit $st1 with the cache, $st2 cold: $(head -3 "$T/inc.log")"
	elif ! cmp -s "$T/inc.diag" "$T/cold.diag"; then
		fail "$label" "diagnostics differ: $(diff "$T/inc.diag" "$T/cold.diag" | head -4)"
	elif [ $st1 -eq 0 ] && ! diff -r "$P/site" "$T/cold" >"$T/diff" 2>&1; then
		fail "$label" "output differs from a cold build: $(head -4 "$T/diff")"
	else
		pass "$label: same output and diagnostics as a cold build ($scan)"
	fi
}
# Let every file's timestamps age past the racy window (1 s before the scan).
settle() { sleep 1.2; "$FAZHI" build -C "$P" --quiet --no-bundles >/dev/null 2>&1; }
expect_scan() {
	if [ "$scan" = "$2" ]; then pass "$1 ($scan)"; else fail "$1" "scan: $scan, expected $2"; fi
}

sleep 1.2
same_as_cold "first build"
[ -f "$P/site.fazhi-scan" ] && pass "the build writes site.fazhi-scan beside the site" || fail "the build writes site.fazhi-scan beside the site" "missing"
expect_scan "a build without a cache reads every report" "0 cached, $n read"
same_as_cold "no change"
expect_scan "an unchanged rebuild reads no report" "$n cached, 0 read"

cp "$P/site.fazhi-scan" "$T/scan.before"
"$FAZHI" check -C "$P" >"$T/check.log" 2>&1
if grep -q "scan: $n cached, 0 read" "$T/check.log" && cmp -s "$P/site.fazhi-scan" "$T/scan.before"; then
	pass "fazhi check reads the cache and writes nothing"
else
	fail "fazhi check reads the cache and writes nothing" "$(grep scan: "$T/check.log")"
fi

echo "新增一段：持续推进。" >>"$P/content/市司法局/2022.md"
same_as_cold "body edit"
expect_scan "an edited report is read, the others are not" "$((n - 1)) cached, 1 read"
grep -q "新增一段" "$P/site/report/市司法局-2022.html" && pass "the body edit is published" || fail "the body edit is published" "not found"
# Its timestamps are within a second of that scan: not trusted yet.
same_as_cold "racy rebuild"
expect_scan "a report changed just before a build is read again by the next" "$((n - 1)) cached, 1 read"

settle
sed -i 's/^title: 市司法局2021年.*/title: 市司法局2021年法治政府建设情况报告（修订）/' "$P/content/市司法局/2021.md"
same_as_cold "front-matter edit"
expect_scan "a front-matter edit is read" "$((n - 1)) cached, 1 read"
grep -q "（修订）" "$P/site/report/市司法局-2022.html" && pass "the neighbour shows the new title" || fail "the neighbour shows the new title" "not found"

settle
f="$P/content/市气象局/2022.md"
size=$(stat -c %s "$f"); mtime=$(stat -c %y "$f")
sed -i '0,/^title: /s/法治政府/依法行政/' "$f"
touch -d "$mtime" "$f"
if [ "$(stat -c %s "$f")" = "$size" ] && [ "$(stat -c %y "$f")" = "$mtime" ] && grep -q "^title: .*依法行政" "$f"; then
	same_as_cold "same-size edit, mtime restored"
	expect_scan "a same-size edit with the old mtime is read (ctime)" "$((n - 1)) cached, 1 read"
	grep -q "依法行政" "$P/site/report/市气象局-2022.html" && pass "the same-size edit is published" || fail "the same-size edit is published" "old title"
else
	fail "same-size edit, mtime restored" "could not make the edit ($size $(stat -c %s "$f"))"
fi

settle
mkdir -p "$P/content/新部门"
printf -- '---\ntitle: 新部门2023年报告\ndepartment: 新部门\nyear: 2023\ncategory: 区政府\n---\n\n## 一、主要举措和成效\n\n正文。\n' >"$P/content/新部门/2023.md"
same_as_cold "addition"
expect_scan "an added report is read" "$n cached, 1 read"
rm "$P/content/新部门/2023.md"
same_as_cold "deletion"
[ ! -e "$P/site/report/新部门-2023.html" ] && pass "a deleted report disappears" || fail "a deleted report disappears" "still there"
settle
mv "$P/content/市市场监督管理局/2020.md" "$P/content/市市场监督管理局/2020年报告.md"
same_as_cold "rename"
expect_scan "a renamed report is read again" "$((n - 1)) cached, 1 read"
[ -f "$P/site/report/市市场监督管理局-2020年报告.html" ] && [ ! -e "$P/site/report/市市场监督管理局-2020.html" ] && pass "a renamed report moves" || fail "a renamed report moves" "no page"

# Attachments are checked on disk again for a cached report.
settle
csv="$P/content/市司法局/2023年行政复议案件统计表.csv"
echo "合计,1" >>"$csv"
same_as_cold "attachment grows"
expect_scan "an attachment change needs no re-read" "$n cached, 0 read"
mv "$csv" "$T/csv"
same_as_cold "attachment removed"
if grep -q "attachment \"2023年行政复议案件统计表.csv\" not found" "$T/inc.log"; then
	pass "a cached report's missing attachment is an error"
else
	fail "a cached report's missing attachment is an error" "$(head -3 "$T/inc.log")"
fi
mv "$T/csv" "$csv"
same_as_cold "attachment restored"

# Filters named in front matter are checked again too.
printf 'return {}\n' >"$P/filters/zzlocal.lua"
sed -i '0,/^year: /s/^year: /filters: [zzlocal]\nyear: /' "$P/content/市税务局/"*.md
settle
rm "$P/filters/zzlocal.lua"
same_as_cold "filter removed"
grep -q 'no filter "zzlocal"' "$T/inc.log" && pass "a cached report's missing filter is an error" || fail "a cached report's missing filter is an error" "$(head -3 "$T/inc.log")"
sed -i '/^filters: \[zzlocal\]$/d' "$P/content/市税务局/"*.md

# A warning is printed by every build: its report is never cached.
sed -i '0,/^year: /s/^year: /colour: red\nyear: /' "$P/content/市司法局/2022.md"
same_as_cold "report with a warning"
settle
same_as_cold "report with a warning, rebuilt"
if grep -q "unknown front-matter key 'colour'" "$T/inc.log"; then
	pass "the warning is printed again on a rebuild"
else
	fail "the warning is printed again on a rebuild" "$(head -3 "$T/inc.log")"
fi
expect_scan "a report with a warning is read every time" "$((n - 1)) cached, 1 read"

settle
echo "# 注释" >>"$P/site.yaml"
same_as_cold "site.yaml change"
expect_scan "a site.yaml change ignores the whole cache" "0 cached, $n read"

# Damaged caches: ignored, never trusted, never a crash.
settle
damage() {
	local label=$1
	cp "$P/site.fazhi-scan" "$T/good"
	eval "$2"
	same_as_cold "$label"
	expect_scan "$label: nothing taken from it" "0 cached, $n read"
	cp "$T/good" "$P/site.fazhi-scan"
}
len=$(stat -c %s "$P/site.fazhi-scan")
damage "truncated cache" 'truncate -s $((len / 2)) "$P/site.fazhi-scan"'
damage "cache cut by 1 byte" 'truncate -s $((len - 1)) "$P/site.fazhi-scan"'
damage "garbage cache" 'head -c $len /dev/urandom >"$P/site.fazhi-scan"'
damage "one byte changed" 'printf "\377" | dd of="$P/site.fazhi-scan" bs=1 seek=$((len / 2)) conv=notrunc status=none'
damage "magic only" 'printf "fazhi-scan 1\n" >"$P/site.fazhi-scan"'
damage "empty cache" ': >"$P/site.fazhi-scan"'
damage "cache from the future" 'touch -d "+1 hour" "$P/site.fazhi-scan"'
# Hostile: fields changed at random, the checksum made to match.  The
# entries that still pass validation may say anything, so only ask that
# every build ends normally and the sanitizers (FAZHI=…/asan/fazhi) stay silent.
cp "$P/site.fazhi-scan" "$T/good"
bad=
for seed in $(seq 1 25); do
	python3 - "$T/good" "$P/site.fazhi-scan" "$seed" <<'PY' || { bad="checksum mismatch"; break; }
import random, sys
M = (1 << 64) - 1
def checksum(b):
    n = len(b); h = 0x243f6a8885a308d3; i = 0
    while n - i >= 8:
        h = ((h ^ int.from_bytes(b[i:i + 8], "little")) * 0x9e3779b97f4a7c15) & M
        h ^= h >> 31; i += 8
    for c in b[i:]:
        h = ((h ^ c) * 0x100000001b3) & M
    h ^= n
    h ^= h >> 29; h = (h * 0xbf58476d1ce4e5b9) & M
    return h ^ (h >> 32)
b = bytearray(open(sys.argv[1], "rb").read())
if checksum(bytes(b[:-8])) != int.from_bytes(b[-8:], "little"):
    sys.exit(1)
r = random.Random(int(sys.argv[3]))
body = b[:-8]
for _ in range(r.randint(1, 6)):
    i = r.randrange(49, len(body))
    body[i] = r.choice([0, 1, 0x7f, 0xff, 0x2e, 0x2f, 0xe4, r.randrange(256)])
open(sys.argv[2], "wb").write(bytes(body) + checksum(bytes(body)).to_bytes(8, "little"))
PY
	"$FAZHI" build -C "$P" --quiet --no-bundles >"$T/h.log" 2>&1; st=$?
	if [ $st -gt 1 ] || grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$T/h.log"; then
		bad="seed $seed: exit $st: $(head -3 "$T/h.log")"; break
	fi
	cp "$T/good" "$P/site.fazhi-scan"
done
[ -z "$bad" ] && pass "hostile caches with a valid checksum: no crash" || fail "hostile caches with a valid checksum" "$bad"
cp "$T/good" "$P/site.fazhi-scan"
same_as_cold "after the hostile caches"

rm -rf "$P/site.fazhi-scan"; mkdir "$P/site.fazhi-scan"
same_as_cold "a directory in place of the cache"
exit 0
