#!/usr/bin/env bash
# Crash safety: a build killed at any moment, a full disk or a read-only
# output directory never damages the published site, and the next build
# succeeds.
#   1. 20 kill -9s at deterministic pseudo-random moments during builds
#      of a few hundred reports: after each, the site is the previous one
#      or (when the kill came after the atomic swap) the new one, byte for
#      byte (sha256 of every file), never a mix; then a build succeeds.
#   2. A full disk (a small tmpfs): "disk is full", exit 1, site intact.
#   3. A read-only output file system: a clear error, exit 1, site intact.
# Parts 2 and 3 mount tmpfs and need root; without it they print SKIP.
# Env: FAZHI, ROOT; CRASH_KILLS (default 20), CRASH_REPORTS (default 300).
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
MOUNTS=()
cleanup() {
	local m
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
KILLS=${CRASH_KILLS:-20}
NREPORTS=${CRASH_REPORTS:-300}

# Every file under a site, with its sha256, in a stable order.  Directory
# entries and symbolic links are listed too, so a half-swapped tree or a
# stray link shows.
manifest() {
	python3 - "$1" <<'EOF'
import hashlib, os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        rel = os.path.relpath(p, root)
        if os.path.islink(p):
            out.append("l %s -> %s" % (rel, os.readlink(p)))
        elif os.path.isdir(p):
            out.append("d %s" % rel)
        else:
            out.append("%s %s" % (hashlib.sha256(open(p, "rb").read()).hexdigest(), rel))
print("\n".join(sorted(out)))
EOF
}

# A project of N reports; VERSION changes every report's text.
project() {	# project DIR VERSION
	mkdir -p "$1"
	cp -r "$ROOT/site.yaml" "$ROOT/themes" "$1/"
	[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$1/"
	rm -rf "$1/content"
	python3 - "$1/content" "$2" "$NREPORTS" <<'EOF'
import os, sys
root, version, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cats = ["市政府部门", "区政府", "市直单位", "中央和省驻市单位"]
for i in range(n):
    dept = "第%d局" % (i // 5)
    year = 2019 + i % 5
    d = os.path.join(root, dept)
    os.makedirs(d, exist_ok=True)
    body = "".join(
        "## 一、主要举措和成效\n\n版本%s：第%d段，依法行政，严格规范公正文明执法。\n\n"
        "| 项目 | 数量 |\n|---|---:|\n| 收案 | %d |\n\n## 二、存在的不足和原因\n\n不足。\n\n"
        "## 三、下一年度主要安排\n\n安排。\n\n" % (version, k, i * k) for k in range(1, 4))
    with open(os.path.join(d, "%d.md" % year), "w") as f:
        f.write("---\ntitle: %s%d年法治政府建设年度报告（%s）\ndepartment: %s\nyear: %d\n"
                "category: %s\ndate: %d-03-%02d\n---\n%s" % (dept, year, version, dept, year,
                cats[i % 4], year + 1, i % 28 + 1, body))
EOF
}

# ==== 1. kill -9 during builds ====
# Two versions of the content; each is built once, cold, from the same
# project directory as the killed builds (the build cache records paths
# under ROOT), as the reference for "the old site" and "the new site".
project "$T/a" A
project "$T/b" B
P=$T/p OUT=$T/p-site
project "$P" A
for v in a b; do
	rm -rf "$P/content" && cp -r "$T/$v/content" "$P/content"
	"$FAZHI" build -C "$P" -o "$T/ref-$v" --quiet >"$T/ref-$v.log" 2>&1 ||
		fail "reference build $v" "$(head -c 300 "$T/ref-$v.log")"
	manifest "$T/ref-$v" >"$T/ref-$v.sha"
done
n_files=$(grep -c '^[0-9a-f]\{64\} ' "$T/ref-a.sha")
[ "$n_files" -gt "$NREPORTS" ] && pass "kill: reference sites of $NREPORTS reports ($n_files files)" ||
	fail "kill: reference sites" "only $n_files files"

# The published site starts as the A site, built in place.
rm -rf "$P/content" && cp -r "$T/a/content" "$P/content"
"$FAZHI" build -C "$P" -o "$OUT" --quiet >/dev/null 2>&1
manifest "$OUT" >"$T/cur.sha"
cmp -s "$T/cur.sha" "$T/ref-a.sha" && pass "kill: two builds of the same content are identical" ||
	fail "kill: two builds of the same content are identical" "$(diff "$T/cur.sha" "$T/ref-a.sha" | head -3)"

# How long a build of the other version takes, to spread the kills over it.
rm -rf "$P/content" && cp -r "$T/b/content" "$P/content"
t0=$(date +%s%N)
"$FAZHI" build -C "$P" -o "$T/timing" --quiet >/dev/null 2>&1
dur_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$dur_ms" -lt 50 ] && dur_ms=50
echo "  (a build takes about ${dur_ms} ms; kills spread over 0..$((dur_ms * 6 / 5)) ms)"

cur=a seed=12345 intact=0 mixed=0 after_swap=0
for i in $(seq 1 "$KILLS"); do
	if [ $cur = a ]; then other=b; else other=a; fi
	rm -rf "$P/content" && cp -r "$T/$other/content" "$P/content"
	# A linear congruential generator: the same delays on every run.
	seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
	delay_ms=$(( seed % (dur_ms * 6 / 5 + 1) ))
	"$FAZHI" build -C "$P" -o "$OUT" --quiet >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v d="$delay_ms" 'BEGIN { printf "%.3f", d / 1000 }')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	manifest "$OUT" >"$T/now.sha"
	if cmp -s "$T/now.sha" "$T/ref-$cur.sha"; then
		intact=$((intact + 1))
	elif cmp -s "$T/now.sha" "$T/ref-$other.sha"; then
		# Killed after the swap: the new site, complete.
		after_swap=$((after_swap + 1))
		cur=$other
	else
		mixed=$((mixed + 1))
		fail "kill $i after ${delay_ms} ms: the site is the old or the new one" \
			"$(diff "$T/ref-$cur.sha" "$T/now.sha" | head -4 | tr '\n' ' ')"
		# Start the next round from a clean published site.
		"$FAZHI" build -C "$P" -o "$OUT" --quiet >/dev/null 2>&1
		cur=$other
	fi
done
[ $mixed -eq 0 ] &&
	pass "kill: $KILLS kill -9s, the published site whole every time ($intact unchanged, $after_swap already swapped)" ||
	fail "kill: the published site whole every time" "$mixed of $KILLS damaged"

# The next build succeeds, removes the killed builds' leftovers and
# publishes exactly what a clean build publishes.
if [ $cur = a ]; then other=b; else other=a; fi
rm -rf "$P/content" && cp -r "$T/$other/content" "$P/content"
"$FAZHI" build -C "$P" -o "$OUT" --quiet >"$T/next.log" 2>&1; st=$?
[ $st -eq 0 ] && pass "kill: the next build succeeds" ||
	fail "kill: the next build succeeds" "exit $st: $(head -c 300 "$T/next.log")"
manifest "$OUT" >"$T/now.sha"
cmp -s "$T/now.sha" "$T/ref-$other.sha" && pass "kill: the next build equals a clean build" ||
	fail "kill: the next build equals a clean build" "$(diff "$T/ref-$other.sha" "$T/now.sha" | head -4 | tr '\n' ' ')"
# The lock file and the scan cache (OUT.fazhi-scan) stay by design;
# a killed build's half-written scan cache (OUT.fazhi-scan-PID) must not.
# An old site still being removed in the background (OUT.fazhi-trash-PID)
# is not a leftover either.
left=$(ls -d "$OUT".* 2>/dev/null | grep -v -e 'fazhi-lock$' -e 'fazhi-scan$' -e 'fazhi-trash-[0-9]*$')
[ -z "$left" ] && pass "kill: no staging directory left behind" ||
	fail "kill: no staging directory left behind" "$left"

# ==== 2. a full disk, 3. a read-only output file system ====
small_project() {	# small_project DIR: two short reports
	mkdir -p "$1/content/甲局"
	cp -r "$ROOT/site.yaml" "$ROOT/themes" "$1/"
	[ -d "$ROOT/filters" ] && cp -r "$ROOT/filters" "$1/"
	printf -- '---\ntitle: 甲局2023年报告\ndepartment: 甲局\nyear: 2023\ncategory: 市政府部门\n---\n## 一、主要举措和成效\n\n正文。\n' \
		>"$1/content/甲局/2023.md"
}
mount_tmpfs() {	# mount_tmpfs DIR SIZE
	mkdir -p "$1"
	if mount -t tmpfs -o "size=$2" tmpfs "$1" 2>"$T/mount.err"; then
		MOUNTS+=("$1")
		return 0
	fi
	return 1
}

small_project "$T/d"
"$FAZHI" build -C "$T/d" -o "$T/d-size" --quiet --no-bundles >/dev/null 2>&1
need=$(du -sk "$T/d-size" | cut -f1)
# Room for the site and its staging copy (a build writes the new site
# beside the old one), but not for a site grown by a 1 MB report.
size=$(( need * 2 + 256 ))k
if ! mount_tmpfs "$T/full" "$size"; then
	echo "SKIP crash: a full disk: cannot mount a tmpfs ($(cat "$T/mount.err")); run as root"
	echo "SKIP crash: a read-only output directory: cannot mount a tmpfs; run as root"
	exit 0
fi
OUT=$T/full/site
"$FAZHI" build -C "$T/d" -o "$OUT" --quiet --no-bundles >"$T/full1.log" 2>&1; st=$?
[ $st -eq 0 ] && pass "full disk: the small site fits in a ${size} tmpfs" ||
	fail "full disk: the small site fits in a ${size} tmpfs" "exit $st: $(head -c 300 "$T/full1.log")"
manifest "$OUT" >"$T/full.sha"
# A report with 1 MB of text (incompressible, so nothing makes it fit).
python3 -c 'import random, sys
random.seed(7)
sys.stdout.write("---\ntitle: 大报告\ndepartment: 乙局\nyear: 2023\ncategory: 市政府部门\n---\n" +
    "\n\n".join("".join(random.choice("法治政府建设年度报告依法行政规范执法") for _ in range(300)) for _ in range(1200)) + "\n")' \
	>"$T/d/content/甲局/big.md"
"$FAZHI" build -C "$T/d" -o "$OUT" --quiet --no-bundles >"$T/full2.log" 2>&1; st=$?
[ $st -eq 1 ] && pass "full disk: the build fails with exit 1" ||
	fail "full disk: the build fails with exit 1" "exit $st"
grep -q 'No space left on device (the disk is full)' "$T/full2.log" &&
	pass "full disk: the error says the disk is full" ||
	fail "full disk: the error says the disk is full" "$(head -c 300 "$T/full2.log")"
grep -q "nothing was published" "$T/full2.log" &&
	pass "full disk: the error says nothing was published" ||
	fail "full disk: the error says nothing was published" "$(head -c 300 "$T/full2.log")"
manifest "$OUT" >"$T/now.sha"
cmp -s "$T/now.sha" "$T/full.sha" && pass "full disk: the old site is intact (sha256 of every file)" ||
	fail "full disk: the old site is intact" "$(diff "$T/full.sha" "$T/now.sha" | head -4 | tr '\n' ' ')"
[ ! -e "$OUT.fazhi-staging" ] && pass "full disk: the staging directory is removed, the space freed" ||
	fail "full disk: the staging directory is removed" "$(du -sh "$OUT.fazhi-staging")"
rm "$T/d/content/甲局/big.md"
"$FAZHI" build -C "$T/d" -o "$OUT" --quiet --no-bundles >"$T/full3.log" 2>&1; st=$?
[ $st -eq 0 ] && pass "full disk: once there is room again, the build succeeds" ||
	fail "full disk: once there is room again, the build succeeds" "exit $st: $(head -c 300 "$T/full3.log")"

# Read-only: build into a tmpfs, then remount it read-only.
if mount_tmpfs "$T/ro" 16m; then
	OUT=$T/ro/site
	rm -rf "$T/d" && small_project "$T/d"
	"$FAZHI" build -C "$T/d" -o "$OUT" --quiet >"$T/ro1.log" 2>&1 ||
		fail "read-only: first build" "$(head -c 300 "$T/ro1.log")"
	manifest "$OUT" >"$T/ro.sha"
	if mount -o remount,ro "$T/ro" 2>"$T/mount.err"; then
		printf '\n更新。\n' >>"$T/d/content/甲局/2023.md"
		"$FAZHI" build -C "$T/d" -o "$OUT" --quiet >"$T/ro2.log" 2>&1; st=$?
		[ $st -eq 1 ] && pass "read-only: the build fails with exit 1" ||
			fail "read-only: the build fails with exit 1" "exit $st"
		grep -q 'Read-only file system' "$T/ro2.log" &&
			pass "read-only: the error names the read-only file system" ||
			fail "read-only: the error names the read-only file system" "$(head -c 300 "$T/ro2.log")"
		manifest "$OUT" >"$T/now.sha"
		cmp -s "$T/now.sha" "$T/ro.sha" && pass "read-only: the old site is intact" ||
			fail "read-only: the old site is intact" "$(diff "$T/ro.sha" "$T/now.sha" | head -4 | tr '\n' ' ')"
		mount -o remount,rw "$T/ro"
		"$FAZHI" build -C "$T/d" -o "$OUT" --quiet >"$T/ro3.log" 2>&1; st=$?
		[ $st -eq 0 ] && pass "read-only: writable again, the build succeeds" ||
			fail "read-only: writable again, the build succeeds" "exit $st: $(head -c 300 "$T/ro3.log")"
	else
		echo "SKIP crash: a read-only output directory: cannot remount read-only ($(cat "$T/mount.err"))"
	fi
else
	echo "SKIP crash: a read-only output directory: cannot mount a tmpfs ($(cat "$T/mount.err"))"
fi
exit 0
