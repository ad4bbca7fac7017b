-- stats: a fenced ```stats block becomes an accessible figure: a table
-- (caption, th scope) and an inline SVG bar chart (role="img" with
-- <title> and <desc>).  The block is YAML, label: number, in order,
-- with optional keys:
--
--   title: 行政复议案件办理情况     (caption; default 统计数据)
--   unit: 件                       (shown after the numbers)
--   compare: years                 (add the department's earlier years)
--
-- With compare: years the figure shows this year next to the same
-- department's earlier reports (up to four, from site: each report's
-- first stats block, with the same title if both have one): grouped
-- bars, one per year, and a table by year.
--
-- Colours: the chart uses currentColor and fill-opacity, never a
-- colour of its own, so the page's colour modes recolour it; bars carry
-- classes series-1… for themes that want more.

local SKIP = { title = true, unit = true, compare = true }
local FONT, BAR_MAX, MAX_YEARS = 14, 320, 5
local count = 0

local esc = fazhi.escape

-- 12 → "12", 2.50 → "2.5"
local function num(v)
	if math.type(v) == "integer" then return tostring(v) end
	local s = string.format("%.2f", v):gsub("0+$", ""):gsub("%.$", "")
	return s
end

-- Rough width of text in the chart's font, in pixels.
local function width(s)
	local w = 0
	if utf8.len(s) == nil then return #s * FONT end
	for _, c in utf8.codes(s) do
		w = w + (c < 0x80 and FONT * 0.6 or FONT)
	end
	return math.ceil(w)
end

-- The labelled numbers of a parsed block, in order: { {label, value} }.
-- Return nil and a message if a value is not a number.
local function entries(data)
	local out = {}
	for _, k in ipairs(fazhi.keys(data)) do
		if not SKIP[k] then
			local v = data[k]
			if math.type(v) == nil then
				return nil, ("the value of “%s” is not a number"):format(
					tostring(k))
			end
			out[#out + 1] = { label = tostring(k), value = v }
		end
	end
	if #out == 0 then return nil, "no label: number lines" end
	return out
end

local function caption(title, unit)
	return esc(title) .. (unit and ("（单位：" .. esc(unit) .. "）") or "")
end

local function svg_open(id, w, h)
	return ('<svg class="stats-chart" xmlns="http://www.w3.org/2000/svg" ' ..
		'viewBox="0 0 %d %d" width="%d" height="%d" font-size="%d" ' ..
		'role="img" aria-labelledby="%s-t" aria-describedby="%s-d">\n'):
		format(w, h, w, h, FONT, id, id)
end

-- One year: a bar per label.
local function render_single(id, title, unit, items)
	local labelw, valuew, max = 0, 0, 0
	for _, it in ipairs(items) do
		labelw = math.max(labelw, width(it.label))
		valuew = math.max(valuew, width(num(it.value) .. (unit or "")))
		max = math.max(max, it.value)
	end
	labelw = labelw + 12
	local row, barh = 28, 16
	local w, h = labelw + BAR_MAX + valuew + 8, #items * row + 8
	local o, desc = {}, {}
	for i, it in ipairs(items) do
		desc[#desc + 1] = it.label .. " " .. num(it.value) .. (unit or "")
	end
	o[#o + 1] = ('<figure class="stats" id="%s">\n'):format(id)
	o[#o + 1] = ('<figcaption>%s</figcaption>\n'):format(caption(title, unit))
	o[#o + 1] = svg_open(id, w, h)
	o[#o + 1] = ('<title id="%s-t">%s</title>\n'):format(id, esc(title))
	o[#o + 1] = ('<desc id="%s-d">%s</desc>\n'):format(id,
		esc(table.concat(desc, "，")))
	for i, it in ipairs(items) do
		local y = 4 + (i - 1) * row
		local bw = max > 0 and math.floor(math.max(it.value, 0) /
			max * BAR_MAX + 0.5) or 0
		o[#o + 1] = ('<text x="%d" y="%d" text-anchor="end" ' ..
			'fill="currentColor">%s</text>\n'):format(labelw - 8,
			y + 17, esc(it.label))
		o[#o + 1] = ('<rect class="bar series-1" x="%d" y="%d" ' ..
			'width="%d" height="%d" fill="currentColor"/>\n'):format(
			labelw, y + 5, bw, barh)
		o[#o + 1] = ('<text x="%d" y="%d" fill="currentColor">%s</text>\n'):
			format(labelw + bw + 6, y + 17, esc(num(it.value) ..
			(unit or "")))
	end
	o[#o + 1] = '</svg>\n'
	-- A labelled, focusable box, so a wide table scrolls on its own.
	o[#o + 1] = ('<section class="table-wrap" tabindex="0" aria-label="%s">\n' ..
		'<table>\n<caption>%s</caption>\n'):format(caption(title, unit),
		caption(title, unit))
	o[#o + 1] = '<thead>\n<tr><th scope="col">项目</th>' ..
		'<th scope="col">数值</th></tr>\n</thead>\n<tbody>\n'
	for _, it in ipairs(items) do
		o[#o + 1] = ('<tr><th scope="row">%s</th><td>%s</td></tr>\n'):
			format(esc(it.label), esc(num(it.value)))
	end
	o[#o + 1] = '</tbody>\n</table>\n</section>\n</figure>\n'
	return table.concat(o)
end

-- Several years: per label, one bar per year; a legend; a table by year.
local function render_years(id, title, unit, series)
	local labels, seen = {}, {}
	for s = #series, 1, -1 do	-- this year's order first
		for _, it in ipairs(series[s].items) do
			if not seen[it.label] then
				seen[it.label] = true
				labels[#labels + 1] = it.label
			end
		end
	end
	local value = {}
	local labelw, valuew, max = 0, 0, 0
	for s, ser in ipairs(series) do
		value[s] = {}
		for _, it in ipairs(ser.items) do
			value[s][it.label] = it.value
			valuew = math.max(valuew, width(num(it.value)))
			max = math.max(max, it.value)
		end
	end
	for _, l in ipairs(labels) do labelw = math.max(labelw, width(l)) end
	labelw = labelw + 12
	local k = #series
	local barh, gap, legend = 12, 12, 26
	local group = k * barh + gap
	local w = labelw + BAR_MAX + valuew + 8
	local h = legend + #labels * group + 4
	local function opacity(s)
		return ("%.2f"):format(k == 1 and 1 or 0.3 + 0.7 * (s - 1) / (k - 1))
	end
	local o, desc = {}, {}
	for _, l in ipairs(labels) do
		local parts = {}
		for s, ser in ipairs(series) do
			if value[s][l] then
				parts[#parts + 1] = ser.year .. "年 " .. num(value[s][l]) ..
					(unit or "")
			end
		end
		desc[#desc + 1] = l .. "：" .. table.concat(parts, "，")
	end
	o[#o + 1] = ('<figure class="stats stats-years" id="%s">\n'):format(id)
	o[#o + 1] = ('<figcaption>%s</figcaption>\n'):format(caption(title, unit))
	local x = labelw
	for _, ser in ipairs(series) do
		x = x + 16 + width(ser.year .. "年") + 12
	end
	w = math.max(w, x)
	o[#o + 1] = svg_open(id, w, h)
	o[#o + 1] = ('<title id="%s-t">%s</title>\n'):format(id,
		esc(title .. "（" .. series[1].year .. "—" .. series[k].year ..
		"年）"))
	o[#o + 1] = ('<desc id="%s-d">%s</desc>\n'):format(id,
		esc(table.concat(desc, "；")))
	x = labelw
	for s, ser in ipairs(series) do
		o[#o + 1] = ('<rect class="legend series-%d" x="%d" y="6" ' ..
			'width="12" height="12" fill="currentColor" ' ..
			'fill-opacity="%s"/>\n'):format(s, x, opacity(s))
		o[#o + 1] = ('<text x="%d" y="17" fill="currentColor">%d年</text>\n'):
			format(x + 16, ser.year)
		x = x + 16 + width(ser.year .. "年") + 12
	end
	for i, l in ipairs(labels) do
		local y = legend + (i - 1) * group
		o[#o + 1] = ('<text x="%d" y="%d" text-anchor="end" ' ..
			'fill="currentColor">%s</text>\n'):format(labelw - 8,
			y + (k * barh) // 2 + 5, esc(l))
		for s = 1, k do
			local v = value[s][l]
			if v then
				local by = y + (s - 1) * barh
				local bw = max > 0 and math.floor(math.max(v, 0) / max *
					BAR_MAX + 0.5) or 0
				o[#o + 1] = ('<rect class="bar series-%d" x="%d" y="%d" ' ..
					'width="%d" height="%d" fill="currentColor" ' ..
					'fill-opacity="%s"/>\n'):format(s, labelw, by + 1, bw,
					barh - 2, opacity(s))
				o[#o + 1] = ('<text x="%d" y="%d" font-size="10" ' ..
					'fill="currentColor">%s</text>\n'):format(labelw + bw + 4,
					by + barh - 2, esc(num(v)))
			end
		end
	end
	o[#o + 1] = '</svg>\n'
	o[#o + 1] = ('<section class="table-wrap" tabindex="0" aria-label="%s">\n' ..
		'<table>\n<caption>%s</caption>\n<thead>\n<tr>' ..
		'<th scope="col">项目</th>'):format(caption(title, unit),
		caption(title, unit))
	for _, ser in ipairs(series) do
		o[#o + 1] = ('<th scope="col">%d年</th>'):format(ser.year)
	end
	o[#o + 1] = '</tr>\n</thead>\n<tbody>\n'
	for _, l in ipairs(labels) do
		o[#o + 1] = ('<tr><th scope="row">%s</th>'):format(esc(l))
		for s = 1, k do
			local v = value[s][l]
			o[#o + 1] = v and ('<td>%s</td>'):format(esc(num(v))) or
				'<td>—</td>'
		end
		o[#o + 1] = '</tr>\n'
	end
	o[#o + 1] = '</tbody>\n</table>\n</section>\n</figure>\n'
	return table.concat(o)
end

-- The same department's earlier years, oldest first, at most MAX_YEARS - 1.
local function earlier_years(cb, title)
	local dept = meta.department or (report and report.department)
	local year = meta.year or (report and report.year)
	local out = {}
	if math.type(year) ~= "integer" or type(dept) ~= "string" then
		warn("compare: years needs the report's department and year", cb)
		return out
	end
	for _, r in ipairs(site.departments[dept] or {}) do
		if r.year < year and r.stats then
			local data, problem = fazhi.yaml(r.stats)
			local items
			if data then
				if type(data) ~= "table" then
					problem = "it is not a mapping"
				elseif title and data.title and data.title ~= title then
					data = nil	-- another table: not comparable
				else
					items, problem = entries(data)
				end
			end
			if items then
				out[#out + 1] = { year = r.year, items = items }
			elseif problem then
				warn(("%s (%d): its stats block cannot be compared: %s"):
					format(r.path, r.year, problem), cb)
			end
		end
	end
	table.sort(out, function(a, b) return a.year < b.year end)
	while #out > MAX_YEARS - 1 do table.remove(out, 1) end
	return out, year
end

return {
	CodeBlock = function(cb)
		if (cb.info or ""):match("^%s*(%S+)") ~= "stats" then return nil end
		local data = fazhi.yaml(cb.text, cb)
		if data == nil then return nil end	-- diagnosed by fazhi.yaml
		if type(data) ~= "table" then
			error("a stats block must be a mapping of label: number", cb)
		end
		local items, problem = entries(data)
		if not items then error("stats block: " .. problem, cb) end
		local title = data.title ~= nil and tostring(data.title) or nil
		local unit = data.unit ~= nil and tostring(data.unit) or nil
		if data.compare ~= nil and data.compare ~= "years" then
			error(("stats block: compare: %s is not supported; " ..
				"use compare: years"):format(tostring(data.compare)), cb)
		end
		count = count + 1
		local id = "stats-" .. count
		local html
		if data.compare == "years" then
			local series, year = earlier_years(cb, title)
			if year then
				series[#series + 1] = { year = year, items = items }
				html = render_years(id, title or "统计数据", unit, series)
			end
		end
		html = html or render_single(id, title or "统计数据", unit, items)
		return fazhi.RawBlock(html)
	end,
}
