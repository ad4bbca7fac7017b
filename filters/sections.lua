-- sections: the standard parts of an annual report (法治政府建设年度报告).
--
-- Each h2 heading starts a section that runs to the next h2 (or h1);
-- the section is wrapped in <section aria-labelledby="…">, a landmark
-- named by its heading.  Sections of the standard outline get a stable
-- id whatever their wording or number:
--
--   measures    主要举措和成效 (主要工作及成效, 主要举措及成效, …)
--   problems    存在的不足和原因 (存在问题, 存在的问题和不足, …)
--   leadership  党政主要负责人履行推进法治建设第一责任人职责情况
--   plans       下一年度主要安排 (下一步工作思路/打算/计划, …)
--   other       其他需要报告的情况
--
-- The first five are the items of the 2019 《法治政府建设与责任落实督察
-- 工作规定》; many reports use the three-part form (主要举措及成效 /
-- 存在问题 / 下一步工作思路).  The heading keeps the id its text gives
-- (fazhi.slug); the section element's id is sec-<kind> (sec-measures).
-- Other h2 sections are wrapped too, without an id of their own.
--
-- site.yaml can require sections per category:
--   sections:
--     - category: 市政府部门      # or "*" for every category
--       required: [measures, problems, leadership, plans]
--       level: error              # or warning (the default)

local NAMES = {
	measures = "主要举措和成效",
	problems = "存在的不足和原因",
	leadership = "党政主要负责人履行推进法治建设第一责任人职责情况",
	plans = "下一年度推进法治政府建设的主要安排",
	other = "其他需要报告的情况",
}
local ORDER = { "measures", "problems", "leadership", "plans", "other" }

-- Tried in order: the first rule with a matching word wins.  Wordings
-- that hold two signals (解决问题的主要举措和成效) go to the stronger one.
local RULES = {
	{ "leadership", { "第一责任人", "主要负责人", "履职" } },
	{ "other", { "其他需要报告", "其他情况", "其他事项" } },
	{ "plans", { "下一年度", "下一步", "下年度", "明年", "今后",
		"主要安排", "工作安排", "工作思路", "工作打算", "工作计划" } },
	{ "measures", { "成效" } },
	{ "problems", { "不足", "问题", "差距", "短板" } },
	{ "measures", { "举措", "主要工作", "主要做法", "工作情况",
		"开展情况", "进展" } },
}

-- The section id of a heading's text, or nil.
local function classify(text)
	for _, rule in ipairs(RULES) do
		for _, word in ipairs(rule[2]) do
			if text:find(word, 1, true) then return rule[1] end
		end
	end
	return nil
end

local function attr(s) return fazhi.escape(s) end

return {
	Document = function(doc)
		local out, found, used = {}, {}, {}
		local current = nil
		local function unique(id)
			local k, try = 1, id
			while used[try] do k = k + 1; try = id .. "-" .. k end
			used[try] = true
			return try
		end
		for _, b in ipairs(doc.content) do
			if b.t == "Heading" and b.level <= 2 then
				current = nil
				if b.level == 2 then
					local kind = classify(fazhi.stringify(b))
					local hid, sid
					-- The heading keeps the id its text gives it (Chinese,
					-- readable in links); the section is named by its kind.
					hid = b.id or unique(fazhi.slug(fazhi.stringify(b)))
					if kind and not found[kind] then
						sid = "sec-" .. kind
					end
					if kind then
						found[kind] = found[kind] or b
					end
					b.id = hid
					local open = '<section' ..
						(sid and (' id="' .. attr(sid) .. '"') or "") ..
						' aria-labelledby="' .. attr(hid) .. '">\n'
					current = fazhi.RawBlock(open, { b }, "</section>\n")
					out[#out + 1] = current
				else
					out[#out + 1] = b
				end
			elseif current then
				table.insert(current.content, b)
			else
				out[#out + 1] = b
			end
		end
		doc.content = out

		-- required sections for this report's category
		local category = meta.category or (report and report.category)
		local errors = {}
		for _, rule in ipairs(site.sections) do
			if rule.category == "*" or rule.category == category then
				local missing = {}
				for _, id in ipairs(rule.required) do
					if not NAMES[id] then
						error(("site.yaml: sections: unknown section id " ..
							"'%s' (known: %s)"):format(id,
							table.concat(ORDER, ", ")), doc)
					end
					if not found[id] then
						missing[#missing + 1] = ("%s (%s)"):format(
							NAMES[id], id)
					end
				end
				if #missing > 0 then
					local msg = "missing required section" ..
						(#missing > 1 and "s" or "") .. ": " ..
						table.concat(missing, ", ")
					if rule.level == "error" then
						errors[#errors + 1] = msg
					else
						warn(msg, doc)
					end
				end
			end
		end
		if #errors > 0 then error(table.concat(errors, "; "), doc) end
		return doc
	end,
}
