#!/usr/bin/env bash
# tests/bench/run.sh: build speed of Fazhi against Hugo on the same reports.
#
# usage: bash tests/bench/run.sh [--fazhi-only]
#
# For each size N it generates a deterministic corpus (gencorpus.c), then
# times cold builds, alternating Fazhi and Hugo, with the output on tmpfs
# and on disk; each figure is the best of BENCH_REPEAT runs by wall time.
# It also times floors on the same corpus (cmark-gfm parsing and
# rendering alone, `cp -r` of the Markdown as a write floor, and, up to
# 50k reports, libdeflate alone on the built pages at levels 1, 4 and 6),
# a Fazhi build whose report template holds only the title and the body
# ("bare": what the theme costs), an incremental rebuild after editing
# one report, and runs the component
# benchmarks (bundle_bench, filter_bench, template_bench) when built.
# Tables go to stdout, progress to stderr.  Benchmarks are not tests: the
# exit status is 0 unless the harness itself cannot run.
#
# Environment:
#   FAZHI            generator binary (default ROOT/generator/fazhi)
#   HUGO             hugo binary (default: hugo on PATH)
#   BENCH_SIZES      report counts (default "1000 10000 50000")
#   BENCH_REPEAT     runs per figure, best kept (default 3 up to 10k
#                    reports, 1 above, to stay near 15 minutes)
#   BENCH_INCR_SIZE  size at which the incremental rebuild is timed (10000)
#   BENCH_SHM        tmpfs directory (default /dev/shm)
#   BENCH_DISK       disk directory (default /var/tmp); corpora live here
#   BENCH_SHM_MAX    largest N whose output goes to tmpfs (default 200000)
#   BENCH_BUILD      where helper programs are compiled (ROOT/build/bench)
#   BENCH_KEEP=1     keep corpora and outputs (paths are printed)
# --fazhi-only skips Hugo and the Hugo copy of the corpus (for 1M reports).

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FAZHI=${FAZHI:-$ROOT/generator/fazhi}
HUGO=${HUGO:-hugo}
SIZES=${BENCH_SIZES:-1000 10000 50000}
INCR_SIZE=${BENCH_INCR_SIZE:-10000}
SHM=${BENCH_SHM:-/dev/shm}
DISK=${BENCH_DISK:-/var/tmp}
SHM_MAX=${BENCH_SHM_MAX:-200000}
BUILD=${BENCH_BUILD:-$ROOT/build/bench}
# Hugo keeps every page in memory: with Go's default collector it peaked
# at 3.7 GB for 10k reports and 19 GB for 50k (hugo 0.111.3), of which
# about 270 KB per report is live.  Skip it where even that does not fit,
# and give it a soft GOMEMLIMIT below the available memory so that the
# collector works harder instead of exhausting a shared machine (it does
# not bind when Hugo fits anyway).
HUGO_KB=${BENCH_HUGO_KB_PER_REPORT:-300}
FAZHI_ONLY=0

for arg in "$@"; do
	case $arg in
	--fazhi-only) FAZHI_ONLY=1 ;;
	-h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
	esac
done

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 2; }

# ---- Tools -------------------------------------------------------------

if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" = 0 ]; then
		say "installing the Debian package time (for /usr/bin/time)"
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq time >/dev/null 2>&1 ||
		    { apt-get update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq time >/dev/null; } ||
		    die "cannot install the time package"
	else
		die "/usr/bin/time is missing: apt-get install time"
	fi
fi
command -v cc >/dev/null || die "no C compiler (cc)"

mkdir -p "$BUILD" || die "cannot create $BUILD"
say "compiling gencorpus and cmark_floor into $BUILD"
cc -O2 -std=c11 -Wall -Wextra -o "$BUILD/gencorpus" "$ROOT/tests/bench/gencorpus.c" ||
    die "cannot compile tests/bench/gencorpus.c"
HAVE_CMARK=0
if cc -O2 -std=c11 -Wall -Wextra $(pkg-config --cflags libcmark-gfm 2>/dev/null) \
    -o "$BUILD/cmark_floor" "$ROOT/tests/bench/cmark_floor.c" \
    -lcmark-gfm-extensions -lcmark-gfm 2>"$BUILD/cmark_floor.log"; then
	HAVE_CMARK=1
else
	say "cmark_floor does not compile (see $BUILD/cmark_floor.log): no parse floor"
fi

HAVE_DEFLATE=0
if cc -O2 -std=c11 -Wall -Wextra -o "$BUILD/deflate_floor" \
    "$ROOT/tests/bench/deflate_floor.c" -ldeflate 2>"$BUILD/deflate_floor.log"; then
	HAVE_DEFLATE=1
else
	say "deflate_floor does not compile (see $BUILD/deflate_floor.log): no deflate floor"
fi

HAVE_FAZHI=1
if [ ! -x "$FAZHI" ]; then
	say "no Fazhi binary at $FAZHI (make generator/fazhi): Hugo figures only"
	HAVE_FAZHI=0
fi
HAVE_HUGO=0
if [ "$FAZHI_ONLY" = 0 ]; then
	if command -v "$HUGO" >/dev/null; then
		HAVE_HUGO=1
	else
		say "no hugo on PATH (apt-get install hugo): Fazhi figures only"
	fi
fi
CHOOM=()
# If memory runs out, let the kernel kill the benchmarked program, never
# whatever else shares the machine.
command -v choom >/dev/null && CHOOM=(choom -n 1000 --)

WORK_SHM=$(mktemp -d "$SHM/fazhi-bench.XXXXXX") || die "cannot use $SHM"
WORK_DISK=$(mktemp -d "$DISK/fazhi-bench.XXXXXX") || die "cannot use $DISK"
cleanup() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $WORK_SHM and $WORK_DISK"
	else
		rm -rf "$WORK_SHM" "$WORK_DISK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Work where stray files cannot land in the repository.
cd "$WORK_DISK" || die "cannot enter $WORK_DISK"

# ---- Measuring ---------------------------------------------------------

declare -A WALL CPU RSS STATUS FILES OUTMB NOTE

# timed LOG CMD...: run CMD under /usr/bin/time, output to LOG.
# Sets T_RC, T_WALL, T_CPU (user+sys) and T_RSS (peak, KB).
timed() {
	local log=$1 tf=$WORK_DISK/time.txt line
	shift
	rm -f "$tf"
	"${CHOOM[@]}" /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$log" 2>&1 </dev/null
	T_RC=$?
	line=$(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tf" 2>/dev/null | tail -n 1)
	if [ -z "$line" ]; then
		T_WALL=0 T_CPU=0 T_RSS=0
		[ "$T_RC" = 0 ] && T_RC=125
		return
	fi
	set -- $line
	T_WALL=$1 T_RSS=$4
	T_CPU=$(awk -v u="$2" -v s="$3" 'BEGIN { printf "%.2f", u + s }')
}

# keep KEY: remember the last timed run under KEY if it is the fastest.
keep() {
	local k=$1
	if [ -z "${WALL[$k]:-}" ] ||
	    awk -v a="$T_WALL" -v b="${WALL[$k]}" 'BEGIN { exit !(a < b) }'; then
		WALL[$k]=$T_WALL CPU[$k]=$T_CPU RSS[$k]=$T_RSS
	fi
	STATUS[$k]=ok
}

# fail KEY LOG WHAT: record a failure and show the end of the log.
fail() {
	local k=$1 log=$2 what=$3
	[ "$what" = "failed (exit 137)" ] &&
	    what="failed (exit 137: killed, most likely out of memory)"
	say "$k: $what; last lines of $log:"
	tail -n 15 "$log" | sed 's/^/    /' >&2
	# An earlier run of the same figure succeeded: keep its time.
	[ -n "${WALL[$k]:-}" ] || STATUS[$k]="$what"
}

memavail_kb() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
diskavail_kb() { df -Pk "$1" | awk 'NR == 2 { print $4 }'; }

repeats() {
	if [ -n "${BENCH_REPEAT:-}" ]; then
		echo "$BENCH_REPEAT"
	elif [ "$1" -le 10000 ]; then
		echo 3
	else
		echo 1
	fi
}

# build_cmd TOOL CORPUS OUT: the command line of one build.
build_cmd() {
	case $1 in
	fazhi) CMD=("$FAZHI" build -C "$2" -o "$3" --quiet --no-bundles) ;;
	fazhi+bundles) CMD=("$FAZHI" build -C "$2" -o "$3" --quiet) ;;
	# The same pages with the report template cut to title and body:
	# what the rest of a build costs when a report page has no theme.
	fazhi-bare) CMD=("$FAZHI" build -C "$2-bare" -o "$3" --quiet --no-bundles) ;;
	hugo)
		CMD=("$HUGO" --quiet -s "$2/hugo" -d "$3" --cacheDir "$WORK_DISK/hugo-cache")
		if [ -z "${GOMEMLIMIT:-}" ]; then
			local mb=$(( $(memavail_kb) / 1024 ))
			mb=$(( mb > 4096 ? mb - 2048 : mb / 2 ))
			CMD=(env GOMEMLIMIT="${mb}MiB" "${CMD[@]}")
		fi
		;;
	esac
}

# run_build N TOOL MEDIUM CORPUS: one cold build, kept if fastest.
run_build() {
	local n=$1 tool=$2 medium=$3 corpus=$4 dir out log k need avail
	k="$n|$tool|$medium"
	case ${STATUS[$n|$tool]:-} in ?*) return ;; esac
	# Retry a build that was killed (memory taken by something else on
	# the machine); give up on one that failed by itself.
	case ${STATUS[$k]:-} in ok|''|'failed (exit 137'*) ;; *) return ;; esac
	if [ "$medium" = tmpfs ]; then dir=$WORK_SHM; else dir=$WORK_DISK; fi
	out=$dir/out-$tool
	log=$WORK_DISK/log-$n-$tool-$medium.txt
	rm -rf "$out" "$out".fazhi-*
	if [ "$tool" = hugo ]; then
		rm -rf "$corpus/hugo/resources" "$WORK_DISK/hugo-cache"
		need=$((n * HUGO_KB))
		[ "$medium" = tmpfs ] && need=$((need + n * 25))
		avail=$(memavail_kb)
		if [ "$avail" -lt "$need" ]; then
			STATUS[$k]="skipped: needs ~$((need / 1048576 + 1)) GB of memory, $((avail / 1048576)) GB available"
			say "$k: ${STATUS[$k]}"
			return
		fi
	fi
	build_cmd "$tool" "$corpus" "$out"
	say "$k: ${CMD[*]}"
	timed "$log" "${CMD[@]}"
	if [ "$T_RC" != 0 ]; then
		fail "$k" "$log" "failed (exit $T_RC)"
		return
	fi
	if [ ! -s "$out/index.html" ]; then
		fail "$k" "$log" "failed (no index.html in the output)"
		return
	fi
	say "$k: ${T_WALL}s wall, ${T_CPU}s cpu, $((T_RSS / 1024)) MB peak"
	keep "$k"
	if [ -z "${FILES[$k]:-}" ]; then
		FILES[$k]=$(find "$out" -type f | wc -l)
		OUTMB[$k]=$(du -sk "$out" | awk '{ printf "%.0f", $1 / 1024 }')
	fi
	# Outputs on tmpfs hold memory that the next build may need.  Keep
	# Hugo's for the incremental rebuild, which writes into a built site.
	if [ "$tool" != hugo ] || [ "$medium" != tmpfs ] || [ "$n" != "$INCR_SIZE" ]; then
		rm -rf "$out" "$out".fazhi-*
	fi
}

# floors N CORPUS MEDIA...: cmark-gfm alone, and cp -r of the Markdown.
floors() {
	local n=$1 corpus=$2 r reps medium dir log k line
	shift 2
	reps=$(repeats "$n")
	if [ "$HAVE_CMARK" = 1 ]; then
		k="$n|floor-cmark|-"
		log=$WORK_DISK/log-$n-cmark.txt
		for r in $(seq "$reps"); do
			say "$k: cmark_floor (run $r/$reps)"
			timed "$log" "$BUILD/cmark_floor" "$corpus/content"
			if [ "$T_RC" != 0 ]; then
				fail "$k" "$log" "failed (exit $T_RC)"
				break
			fi
			keep "$k"
			line=$(grep '^cmark_floor ' "$log")
			[ "$T_WALL" = "${WALL[$k]}" ] &&
			    NOTE[$k]="cmark alone $(echo "$line" | sed 's/.*parse_render_s=\([0-9.]*\).*/\1/') s"
		done
	fi
	for medium in "$@"; do
		if [ "$medium" = tmpfs ]; then dir=$WORK_SHM; else dir=$WORK_DISK; fi
		k="$n|floor-cp|$medium"
		log=$WORK_DISK/log-$n-cp-$medium.txt
		for r in $(seq "$reps"); do
			rm -rf "$dir/cp-floor"
			say "$k: cp -r content (run $r/$reps)"
			timed "$log" cp -r "$corpus/content" "$dir/cp-floor"
			if [ "$T_RC" != 0 ]; then
				fail "$k" "$log" "failed (exit $T_RC)"
				break
			fi
			keep "$k"
		done
		rm -rf "$dir/cp-floor"
	done
}

# bare CORPUS: CORPUS-bare, the same site whose report template holds
# only the title and the body (no head partial, header, breadcrumbs,
# metadata, contents, year links or footer).
bare() {
	local corpus=$1 b=$1-bare
	rm -rf "$b"
	mkdir -p "$b" || return 1
	ln -s "$corpus/content" "$b/content"
	ln -s "$ROOT/filters" "$b/filters"
	cp "$corpus/site.yaml" "$b/" && cp -rL "$ROOT/themes" "$b/themes" || return 1
	cat >"$b/themes/default/templates/report.html" <<'EOT'
<!DOCTYPE html>
<html lang="{{ site.language }}">
<head>
<meta charset="utf-8">
<title>{{ report.title }}</title>
</head>
<body>
<h1>{{ report.title }}</h1>
{{{ report.content }}}
</body>
</html>
EOT
}

# deflate_floors N CORPUS: build the pages once (not timed) and deflate
# every file of them, one thread, at levels 1, 4 and 6.
deflate_floors() {
	local n=$1 corpus=$2 out=$WORK_SHM/out-deflate log lv line
	[ "$HAVE_DEFLATE" = 1 ] && [ "$HAVE_FAZHI" = 1 ] || return 0
	log=$WORK_DISK/log-$n-deflate.txt
	rm -rf "$out" "$out".fazhi-*
	say "$n|floor-deflate: building the pages to compress"
	if ! "$FAZHI" build -C "$corpus" -o "$out" --quiet --no-bundles >"$log" 2>&1; then
		fail "$n|floor-deflate-6|-" "$log" "failed (the build for it failed)"
		return
	fi
	say "$n|floor-deflate: deflate_floor $out"
	if "$BUILD/deflate_floor" "$out" 1 4 6 >"$log" 2>&1; then
		for lv in 1 4 6; do
			line=$(grep "^deflate_floor level=$lv " "$log") || continue
			set -- $line
			local k="$n|floor-deflate-$lv|-" files bytes o sec
			files=${3#files=} bytes=${4#bytes=} o=${5#out=} sec=${6#s=}
			WALL[$k]=$sec CPU[$k]=$sec RSS[$k]=0 STATUS[$k]=ok
			FILES[$k]=$files
			OUTMB[$k]=$(awk -v o="$o" 'BEGIN { printf "%.0f", o / 1048576 }')
			NOTE[$k]="$((bytes / 1048576)) MB in, $(awk -v o="$o" -v b="$bytes" 'BEGIN { printf "%.1f", 100 * o / b }')% out"
		done
	else
		fail "$n|floor-deflate-6|-" "$log" "failed"
	fi
	rm -rf "$out" "$out".fazhi-*
}

# incremental N CORPUS: edit one report, rebuild (tmpfs output).
incremental() {
	local n=$1 corpus=$2 reps rel r out log k
	reps=$(repeats "$n")
	rel=$(cd "$corpus/content" && find . -name 2020.md | sort | head -n 1)
	rel=${rel#./}
	[ -n "$rel" ] || { say "incremental: no 2020 report in the corpus"; return; }
	# Both copies get the same edit, so both tools read the same text.
	append() {
		local f
		for f in "$corpus/content/$rel" "$corpus/hugo/content/report/$rel"; do
			[ -f "$f" ] || continue
			printf '\n补充说明：本段为增量构建基准第%s次修改时追加，用于检验只重建受影响页面。\n' "$1" >>"$f"
		done
	}
	if [ "$HAVE_FAZHI" = 1 ] && [ -z "${STATUS[$n|fazhi]:-}" ]; then
		out=$WORK_SHM/out-incr
		log=$WORK_DISK/log-$n-incr.txt
		rm -rf "$out" "$out".fazhi-*
		build_cmd fazhi "$corpus" "$out"
		k="$n|incr-fazhi-cold|tmpfs"
		say "$k: ${CMD[*]}"
		timed "$log" "${CMD[@]}"
		if [ "$T_RC" != 0 ]; then
			fail "$k" "$log" "failed (exit $T_RC)"
		else
			keep "$k"
			k="$n|incr-fazhi-noop|tmpfs"
			for r in $(seq "$reps"); do
				say "$k: rebuild with nothing changed (run $r/$reps)"
				timed "$log" "${CMD[@]}"
				[ "$T_RC" = 0 ] || { fail "$k" "$log" "failed (exit $T_RC)"; break; }
				keep "$k"
			done
			k="$n|incr-fazhi-edit|tmpfs"
			for r in $(seq "$reps"); do
				append "$r"
				say "$k: rebuild after appending a paragraph to $rel (run $r/$reps)"
				timed "$log" "${CMD[@]}"
				[ "$T_RC" = 0 ] || { fail "$k" "$log" "failed (exit $T_RC)"; break; }
				if ! grep -q "增量构建基准第${r}次" -r "$out/report" 2>/dev/null; then
					fail "$k" "$log" "failed (the edit is not in the output)"
					break
				fi
				keep "$k"
			done
		fi
	fi
	if [ "$HAVE_HUGO" = 1 ] && [ "${STATUS[$n|hugo|tmpfs]:-}" = ok ]; then
		# Hugo's CLI always rebuilds everything; only `hugo server`
		# rebuilds incrementally, in memory.  Time one rebuild into the
		# existing output after the same kind of edit.
		k="$n|incr-hugo-edit|tmpfs"
		out=$WORK_SHM/out-hugo
		log=$WORK_DISK/log-$n-incr-hugo.txt
		append 9
		build_cmd hugo "$corpus" "$out"
		say "$k: ${CMD[*]} after appending a paragraph to $rel"
		timed "$log" "${CMD[@]}"
		if [ "$T_RC" != 0 ]; then
			fail "$k" "$log" "failed (exit $T_RC)"
		elif ! grep -q "增量构建基准第9次" -r "$out/report" 2>/dev/null; then
			fail "$k" "$log" "failed (the edit is not in the output)"
		else
			keep "$k"
		fi
	fi
}

# ---- Reporting ---------------------------------------------------------

ROWFMT='%-26s %-6s %9s %9s %9s %11s %8s %8s\n'

# row N KEY LABEL MEDIUM [-]: one line of the table; "-" leaves out
# reports/s (for rebuilds, where it means nothing).
row() {
	local n=$1 k=$2 label=$3 medium=$4 per=${5:-} st
	st=${STATUS[$k]:-}
	[ -n "$st" ] || return 0
	if [ "$st" != ok ]; then
		printf '%-26s %-6s %s\n' "$label" "$medium" "$st"
		return
	fi
	printf "$ROWFMT" "$label" "$medium" "${WALL[$k]}" "${CPU[$k]}" \
	    "$( [ "${RSS[$k]}" = 0 ] && echo - || echo $((RSS[$k] / 1024)) )" \
	    "$(awk -v n="$n" -v w="${WALL[$k]}" -v per="$per" 'BEGIN { if (w > 0 && per == "") printf "%.0f", n / w; else print "-" }')" \
	    "${FILES[$k]:--}" "${OUTMB[$k]:--}"
	[ -z "${NOTE[$k]:-}" ] || printf '%-26s %-6s (%s)\n' "" "" "${NOTE[$k]}"
}

ratio() {
	local a=$1 b=$2 medium=$3
	[ "${STATUS[$a]:-}" = ok ] && [ "${STATUS[$b]:-}" = ok ] || return 0
	printf "$ROWFMT" "  ratio fazhi/hugo" "$medium" \
	    "$(awk -v a="${WALL[$a]}" -v b="${WALL[$b]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" \
	    "$(awk -v a="${CPU[$a]}" -v b="${CPU[$b]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" \
	    "$(awk -v a="${RSS[$a]}" -v b="${RSS[$b]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" \
	    "" "" ""
}

table() {
	local n=$1 medium
	shift
	echo
	echo "== $n reports: ${CORPUS_INFO[$n]} =="
	printf "$ROWFMT" "build" "output" "wall s" "cpu s" "peak MB" "reports/s" "files" "out MB"
	for medium in "$@"; do
		row "$n" "$n|fazhi|$medium" "fazhi --no-bundles" "$medium"
		row "$n" "$n|fazhi+bundles|$medium" "fazhi (with bundles)" "$medium"
		row "$n" "$n|fazhi-bare|$medium" "fazhi, bare report page" "$medium"
		row "$n" "$n|hugo|$medium" "hugo" "$medium"
		ratio "$n|fazhi|$medium" "$n|hugo|$medium" "$medium"
	done
	row "$n" "$n|floor-cmark|-" "floor: cmark-gfm parse" "-"
	for medium in "$@"; do
		row "$n" "$n|floor-cp|$medium" "floor: cp -r content" "$medium"
	done
	row "$n" "$n|floor-deflate-1|-" "floor: deflate pages, l1" "-" -
	row "$n" "$n|floor-deflate-4|-" "floor: deflate pages, l4" "-" -
	row "$n" "$n|floor-deflate-6|-" "floor: deflate pages, l6" "-" -
	if [ -n "${STATUS[$n|incr-fazhi-cold|tmpfs]:-}${STATUS[$n|incr-hugo-edit|tmpfs]:-}" ]; then
		echo "incremental, one report edited (a paragraph appended), output on tmpfs:"
		row "$n" "$n|incr-fazhi-cold|tmpfs" "fazhi cold build" tmpfs
		row "$n" "$n|incr-fazhi-noop|tmpfs" "fazhi rebuild, no change" tmpfs -
		row "$n" "$n|incr-fazhi-edit|tmpfs" "fazhi rebuild, one edit" tmpfs -
		row "$n" "$n|incr-hugo-edit|tmpfs" "hugo rebuild, one edit" tmpfs -
		[ -z "${STATUS[$n|incr-hugo-edit|tmpfs]:-}" ] ||
		    echo "  (hugo's CLI has no incremental build: it rebuilds everything; only 'hugo server' rebuilds incrementally, in memory)"
	fi
}

# ---- Main --------------------------------------------------------------

declare -A CORPUS_INFO
echo "Fazhi build benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, $(awk '/^MemTotal:/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr)"
echo "fazhi: $FAZHI ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))$([ "$HAVE_FAZHI" = 1 ] || echo ' -- missing')"
[ "$HAVE_HUGO" = 1 ] && echo "hugo: $("$HUGO" version 2>/dev/null | head -n 1)"
echo "sizes: $SIZES; tmpfs: $SHM; disk: $DISK; best of BENCH_REPEAT runs (default 3 up to 10k reports, else 1)"
echo "times from /usr/bin/time: wall = elapsed, cpu = user + sys, peak MB = max RSS; corpus on disk, page cache warm"
[ "$HAVE_HUGO" = 1 ] && [ -z "${GOMEMLIMIT:-}" ] &&
    echo "hugo runs with GOMEMLIMIT = available memory - 2 GB (a soft limit; it binds only where Hugo would exhaust the machine)"

for n in $SIZES; do
	case $n in ''|*[!0-9]*) die "BENCH_SIZES: not a number: $n" ;; esac
	copies=2
	[ "$FAZHI_ONLY" = 1 ] && copies=1
	# KB: 12 per report per copy of the corpus, up to 40 of output.
	need=$((n * (12 * copies + 40)))
	avail=$(diskavail_kb "$WORK_DISK")
	if [ "$avail" -lt "$need" ]; then
		say "$n reports: skipped, needs ~$((need / 1048576 + 1)) GB free in $DISK, $((avail / 1048576)) GB free"
		echo
		echo "== $n reports: skipped (not enough disk space in $DISK) =="
		continue
	fi
	media="disk"
	if [ "$n" -le "$SHM_MAX" ]; then
		media="tmpfs disk"
	else
		say "$n reports: output on disk only (BENCH_SHM_MAX=$SHM_MAX)"
	fi

	corpus=$WORK_DISK/corpus-$n
	say "$n reports: generating the corpus in $corpus"
	gflags=()
	[ "$HAVE_HUGO" = 1 ] || gflags=(-F)
	timed "$WORK_DISK/log-$n-gen.txt" "$BUILD/gencorpus" "${gflags[@]}" "$n" "$corpus"
	if [ "$T_RC" != 0 ]; then
		cat "$WORK_DISK/log-$n-gen.txt" >&2
		die "gencorpus failed"
	fi
	mb=$(du -sk "$corpus/content" | awk '{ printf "%.0f", $1 / 1024 }')
	CORPUS_INFO[$n]="$(((n + 9) / 10)) departments, ${mb} MB of Markdown on disk, generated in ${T_WALL}s"
	ln -s "$ROOT/themes" "$corpus/themes"
	ln -s "$ROOT/filters" "$corpus/filters"
	if [ "$HAVE_HUGO" = 1 ]; then
		cp "$ROOT/tests/bench/hugo/config.toml" "$corpus/hugo/"
		cp -r "$ROOT/tests/bench/hugo/layouts" "$corpus/hugo/"
	fi

	floors "$n" "$corpus" $media
	if [ "$n" -le 50000 ] && [[ " $media " == *" tmpfs "* ]]; then
		bare "$corpus" || say "$n reports: cannot make $corpus-bare"
		deflate_floors "$n" "$corpus"
	fi

	reps=$(repeats "$n")
	for medium in $media; do
		tools=()
		[ "$HAVE_FAZHI" = 1 ] && tools+=(fazhi)
		[ "$HAVE_FAZHI" = 1 ] && [ "$medium" = tmpfs ] && tools+=(fazhi+bundles)
		[ "$HAVE_FAZHI" = 1 ] && [ "$medium" = tmpfs ] && [ "$n" -le 50000 ] &&
		    [ -d "$corpus-bare" ] && tools+=(fazhi-bare)
		[ "$HAVE_HUGO" = 1 ] && tools+=(hugo)
		for r in $(seq "$reps"); do
			say "$n reports, output on $medium: run $r/$reps"
			for tool in "${tools[@]}"; do
				run_build "$n" "$tool" "$medium" "$corpus"
			done
		done
	done
	# A build that failed by itself fails the tool at this size.
	for tool in fazhi fazhi+bundles fazhi-bare hugo; do
		for medium in $media; do
			case ${STATUS[$n|$tool|$medium]:-} in
			'failed (exit 137'*) ;;
			failed*) STATUS[$n|$tool]=failed ;;
			esac
		done
	done

	if [ "$n" = "$INCR_SIZE" ] && [[ " $media " == *" tmpfs "* ]]; then
		incremental "$n" "$corpus"
	fi

	table "$n" $media
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$corpus" "$corpus-bare" "$WORK_SHM"/out-* "$WORK_DISK"/out-*
	fi
done

# Component benchmarks written next to the modules they measure.
for b in bundle_bench filter_bench template_bench; do
	bin=
	for d in "$ROOT/tests/bench" "$BUILD"; do
		[ -x "$d/$b" ] && [ -f "$d/$b" ] && { bin=$d/$b; break; }
	done
	if [ -z "$bin" ]; then
		say "$b: not built, skipped"
		continue
	fi
	echo
	echo "== $b =="
	say "running $bin"
	(cd "$ROOT" && FAZHI=$FAZHI ROOT=$ROOT timeout 600 "$bin") 2>&1 | sed 's/^/  /'
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || echo "  ($b exited with status $rc)"
done
exit 0
