#!/usr/bin/env bash
# Filters in real builds: the bundled filters on the sample site (site
# filters from site.yaml, report filters from front matter), the same
# bytes twice, and a filter that fails or runs away: exit 1, the
# report's position and the filter's line, and nothing published.
set -u
: "${FAZHI:?}" "${ROOT:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() { if eval "$2"; then pass "$1"; else fail "$1" "$2"; fi; }

copy_site() {
	mkdir -p "$1"
	cp -r "$ROOT/site.yaml" "$ROOT/content" "$ROOT/themes" "$ROOT/filters" "$1/"
}

# Add "filters: [...]" to a report's front matter (after its first line).
add_filters() {
	sed -i "2i filters: [$2]" "$1"
}

# ---- the bundled filters on the sample site ----
copy_site "$T/s"
sed -i 's/^filters: .*/filters: [numbering, sections]/' "$T/s/site.yaml"
add_filters "$T/s/content/市司法局/2023.md" stats
add_filters "$T/s/content/市司法局/2022.md" stats
"$FAZHI" build -C "$T/s" --quiet --no-bundles >"$T/out" 2>&1; st=$?
check "sample site with filters builds (exit 0)" '[ $st -eq 0 ]'
check "no diagnostics from the bundled filters on the sample" '[ ! -s "$T/out" ]'
p="$T/s/site/report/sfj-2023.html"
[ -f "$p" ] || p=$(grep -l "市司法局2023年" "$T/s/site/report/"*.html | head -1)
check "sections: the five standard sections are landmarks" \
	'for id in measures problems leadership plans other; do grep -q "<section id=\"sec-$id\" aria-labelledby=\"[^\"]*\">" "$p" || exit 1; done'
check "sections: headings keep their Chinese ids, named by their section" \
	'grep -q "<section id=\"sec-measures\" aria-labelledby=\"一-2023年推进法治政府建设的主要举措和成效\">" "$p" && grep -q "<h2 id=\"一-2023年推进法治政府建设的主要举措和成效\">一、2023年推进法治政府建设的主要举措和成效</h2>" "$p"'
check "numbering: an h4 numbered 1. and an h5 numbered （1）" \
	'grep -q ">1.案件办理</h4>" "$p" && grep -q ">（1）衔接新法</h5>" "$p"'
check "stats: a figure with a chart and a table" \
	'grep -q "<figure class=\"stats stats-years\" id=\"stats-1\">" "$p" && grep -q "role=\"img\"" "$p" && grep -q "<th scope=\"row\">收到申请</th>" "$p"'
check "stats: earlier years come from the site index" \
	'grep -q "<th scope=\"col\">2021年</th><th scope=\"col\">2022年</th><th scope=\"col\">2023年</th>" "$p"'
check "stats: the chart has no colour of its own" \
	'! sed -n "/<svg/,/<\/svg>/p" "$p" | grep -qiE "fill=\"#|stroke=\"#|rgb\("'
other=$(grep -l "市气象局" "$T/s/site/report/"*.html | head -1)
check "site filters reach every report" \
	'grep -q "<section id=\"sec-measures\"" "$other"'

"$FAZHI" build -C "$T/s" -o "$T/again" --quiet --no-bundles >/dev/null 2>&1
check "filters: two builds are byte-identical" \
	'diff -r "$T/s/site" "$T/again" >/dev/null'
FAZHI_JOBS=1 "$FAZHI" build -C "$T/s" -o "$T/one" --quiet --no-bundles >/dev/null 2>&1
check "filters: one worker or many, the same bytes" \
	'diff -r "$T/s/site" "$T/one" >/dev/null'

# ---- a filter that fails: nothing is published ----
copy_site "$T/f"
"$FAZHI" build -C "$T/f" --quiet --no-bundles >/dev/null 2>&1
echo "previous site" >"$T/f/site/marker"
cat >"$T/f/filters/broken.lua" <<'EOF'
return {
	Heading = function(h)
		if h.level == 3 then
			error("no h3 allowed: " .. stringify(h))
		end
	end,
}
EOF
add_filters "$T/f/content/市司法局/2023.md" broken
"$FAZHI" build -C "$T/f" --no-bundles >"$T/out" 2>&1; st=$?
check "a failing filter fails the build (exit 1)" '[ $st -eq 1 ]'
line=$(grep -n '^### ' "$T/f/content/市司法局/2023.md" | head -1 | cut -d: -f1)
check "the error names the report's line and the filter's line" \
	'grep -qF "content/市司法局/2023.md:$line:1: error: filters/broken.lua:4: no h3 allowed: （一）" "$T/out"'
check "nothing is published after a filter error" \
	'[ -f "$T/f/site/marker" ]'
"$FAZHI" check -C "$T/f" --quiet >"$T/out" 2>&1; st=$?
check "fazhi check reports the filter error too" \
	'[ $st -eq 1 ] && grep -qF "error: filters/broken.lua:4:" "$T/out"'

# ---- a runaway filter is stopped, pcall or not ----
copy_site "$T/r"
printf '\nfilter_limits:\n  instructions: 1000000\n' >>"$T/r/site.yaml"
cat >"$T/r/filters/spin.lua" <<'EOF'
return {
	Document = function(doc)
		while true do pcall(function() local n = 0 while true do n = n + 1 end end) end
	end,
}
EOF
add_filters "$T/r/content/市气象局/2022.md" spin
timeout 120 "$FAZHI" build -C "$T/r" --no-bundles >"$T/out" 2>&1; st=$?
check "a runaway filter is stopped (exit 1, not a timeout)" '[ $st -eq 1 ]'
check "the runaway is named with its line" \
	'grep -qE "content/市气象局/2022\.md:[0-9]+:1: error: filters/spin\.lua:3: stopped: out of instructions \(1000000 per report" "$T/out"'

# ---- sections required by site.yaml ----
copy_site "$T/q"
# site.yaml already has filters and sections: replace them.
sed -i '/^filters:/d; /^sections:/,/^    level:/d' "$T/q/site.yaml"
cat >>"$T/q/site.yaml" <<'EOF'

filters: [sections]
sections:
  - category: 区政府
    required: [measures, problems, plans]
    level: error
EOF
# every 区政府 report of the sample has these three: take one's problems out
q=$(grep -l "category: 区政府" "$T/q/content"/*/*.md | head -1)
rel=${q#"$T/q/"}
sed -i '/^## .*\(不足\|问题\)/d' "$q"
"$FAZHI" build -C "$T/q" --no-bundles >"$T/out" 2>&1; st=$?
check "a missing required section fails the build" '[ $st -eq 1 ]'
check "the missing section is named, in that report only" \
	'grep -qF "$rel:" "$T/out" && grep -qF "missing required section: 存在的不足和原因 (problems)" "$T/out" && [ "$(grep -c "error: filters" "$T/out")" -eq 1 ]'
sed -i 's/level: error/level: warning/' "$T/q/site.yaml"
"$FAZHI" build -C "$T/q" --no-bundles >"$T/out" 2>&1; st=$?
check "as a warning it does not fail the build" \
	'[ $st -eq 0 ] && grep -qF "warning: filters/sections.lua:" "$T/out"'
