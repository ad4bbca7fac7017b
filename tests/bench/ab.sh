#!/usr/bin/env bash
# ab.sh: time two Fazhi binaries against each other on one corpus, in
# turn, so that both see the same machine; print the best wall and CPU
# time of each.  Not a test: it exits 0 unless a build fails.
#
# usage: bash tests/bench/ab.sh OLD NEW ROOT [RUNS [BUILD ARGS...]]
#   OLD, NEW   generator binaries (e.g. a copy of an earlier build)
#   ROOT       a project root, e.g. a gencorpus directory
#   RUNS       runs of each (default 3); output goes to $BENCH_SHM
#              (default /dev/shm) and is removed before each run
# e.g.  bash tests/bench/ab.sh /tmp/fazhi.old generator/fazhi \
#           /var/tmp/corpus-10000 4 --no-bundles
set -u -o pipefail
if [ $# -lt 3 ]; then
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
old=$1 new=$2 root=$3
runs=${4:-3}
shift $(($# < 4 ? $# : 4))
out=${BENCH_SHM:-/dev/shm}/fazhi-ab.$$
trap 'rm -rf "$out" "$out.fazhi-scan"' EXIT
best_w_old=999999 best_c_old=999999 best_w_new=999999 best_c_new=999999
for ((i = 1; i <= runs; i++)); do
	for which in old new; do
		bin=${!which}
		rm -rf "$out" "$out.fazhi-scan"
		if ! t=$( { /usr/bin/time -f '%e %U %S' "$bin" build -C "$root" \
		    -o "$out" --quiet "$@" >/dev/null; } 2>&1 | tail -1); then
			echo "ab.sh: $which ($bin) failed: $t" >&2
			exit 1
		fi
		read -r w u s <<<"$t"
		c=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
		bw=best_w_$which bc=best_c_$which
		if awk -v a="$w" -v b="${!bw}" 'BEGIN { exit !(a < b) }'; then
			printf -v "$bw" '%s' "$w"
		fi
		if awk -v a="$c" -v b="${!bc}" 'BEGIN { exit !(a < b) }'; then
			printf -v "$bc" '%s' "$c"
		fi
		echo "run $i $which: ${w}s wall, ${c}s cpu" >&2
	done
done
printf 'old %s: best %ss wall, %ss cpu\n' "$old" "$best_w_old" "$best_c_old"
printf 'new %s: best %ss wall, %ss cpu\n' "$new" "$best_w_new" "$best_c_new"
awk -v a="$best_w_old" -v b="$best_w_new" -v c="$best_c_old" -v d="$best_c_new" \
    'BEGIN { printf "new/old: %.3f wall, %.3f cpu\n", b / a, d / c }'
