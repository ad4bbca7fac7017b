-- numbering: heading numbers in the official style of GB/T 9704-2012
-- §7.3.3: h2 一、  h3 （一）  h4 1.  h5 （1）, each level counted anew
-- under its parent.  Numbers already written are checked: a skipped or
-- wrong number, or the style of another level, is corrected and warned
-- about; (一) and （一）, 1、 1. and １． are accepted and normalised.
-- Only headings are touched: run-in headings (a paragraph that starts
-- with **一是……。**) and 一是…二是… inside paragraphs stay as written.
-- Headings inside block quotes and lists are quotations: left alone.

local DIGITS = { "一", "二", "三", "四", "五", "六", "七", "八", "九" }
local CN_VALUE = {
	["〇"] = 0, ["零"] = 0, ["一"] = 1, ["二"] = 2, ["三"] = 3,
	["四"] = 4, ["五"] = 5, ["六"] = 6, ["七"] = 7, ["八"] = 8,
	["九"] = 9, ["十"] = 10, ["百"] = 100, ["千"] = 1000,
}

-- 1 → 一, 10 → 十, 11 → 十一, 20 → 二十, 105 → 一百零五, 1010 → 一千零一十;
-- past 9999 (no real report gets there) the number is written in digits.
local function chinese(n)
	if n >= 10000 then return tostring(n) end
	if n >= 1000 then
		local rest = n % 1000
		local s = DIGITS[n // 1000] .. "千"
		if rest == 0 then return s end
		if rest < 100 then
			-- 1010 → 一千零一十, 1005 → 一千零五
			return s .. "零" .. (rest >= 10 and rest < 20 and
				"一" .. chinese(rest) or chinese(rest))
		end
		return s .. chinese(rest)
	end
	if n < 10 then return DIGITS[n] end
	if n < 20 then return "十" .. (DIGITS[n % 10] or "") end
	if n < 100 then
		return DIGITS[n // 10] .. "十" .. (DIGITS[n % 10] or "")
	end
	local rest = n % 100
	local s = DIGITS[n // 100] .. "百"
	if rest == 0 then return s end
	if rest < 10 then return s .. "零" .. DIGITS[rest] end
	if rest < 20 then return s .. "一" .. chinese(rest) end
	return s .. chinese(rest)
end

-- The Chinese numeral at byte i of s: its value and the byte after it.
local function read_chinese(s, i)
	local total, cur, j, any = 0, 0, i, false
	while true do
		local v = CN_VALUE[s:sub(j, j + 2)]
		if v == nil then break end
		if v == 10 or v == 100 or v == 1000 then
			total = total + (cur == 0 and 1 or cur) * v
			cur = 0
		else
			cur = v
		end
		j = j + 3
		any = true
	end
	if not any or total + cur == 0 then return nil end
	return total + cur, j
end

-- ASCII or full-width digits at byte i: their value and the byte after.
local function read_digits(s, i)
	local n, j, any = 0, i, false
	while n < 100000 do
		local b = s:byte(j)
		if b and b >= 48 and b <= 57 then
			n, j = n * 10 + b - 48, j + 1
		elseif b == 0xEF and s:byte(j + 1) == 0xBC and
			(s:byte(j + 2) or 0) >= 0x90 and s:byte(j + 2) <= 0x99 then
			n, j = n * 10 + s:byte(j + 2) - 0x90, j + 3
		else
			break
		end
		any = true
	end
	if not any or n == 0 then return nil end
	return n, j
end

-- Does s have one of the strings in set at byte i?  Return the byte after.
local function take(s, i, set)
	for _, x in ipairs(set) do
		if s:sub(i, i + #x - 1) == x then return i + #x end
	end
	return nil
end

local OPEN, CLOSE = { "（", "(" }, { "）", ")" }
local COMMA = { "、", "．", "." }
local SPACE = { " ", "\t", "　" }
local function is_digit_at(s, i)
	local b = s:byte(i)
	return (b and b >= 48 and b <= 57) or s:sub(i, i + 1) == "\239\188" and
		(s:byte(i + 2) or 0) >= 0x90 and s:byte(i + 2) <= 0x99
end

-- The number a heading text starts with: its style (the level whose
-- style it is), value, the text as written and where the title starts.
local function read_number(s)
	local i = 1
	while take(s, i, SPACE) do i = take(s, i, SPACE) end
	local start, j = i, take(s, i, OPEN)
	local n, style, k
	if j then
		n, k = read_chinese(s, j)
		style = 3
		if not n then n, k = read_digits(s, j); style = 5 end
		if not n then return nil end
		k = take(s, k, CLOSE)
		if not k then return nil end
		k = take(s, k, COMMA) or k	-- （一）、 is a common slip
	else
		n, k = read_chinese(s, i)
		style = 2
		if not n then n, k = read_digits(s, i); style = 4 end
		if not n then return nil end
		k = take(s, k, COMMA)
		-- 一是 is a run-in list, 1.2 a decimal: neither is a number here
		if not k or (style == 4 and is_digit_at(s, k)) then return nil end
	end
	local written = s:sub(start, k - 1)
	while take(s, k, SPACE) do k = take(s, k, SPACE) end
	return { style = style, n = n, written = written, rest = k }
end

local function official(level, n)
	if level == 2 then return chinese(n) .. "、" end
	if level == 3 then return "（" .. chinese(n) .. "）" end
	if level == 4 then return n .. "." end
	return "（" .. n .. "）"
end

-- The first Text of an inline list, looking into emphasis: the list
-- that holds it, after joining the Text nodes at its start.
local function first_text(list, depth)
	local x = list[1]
	if x == nil or depth > 4 then return nil end
	if x.t == "Strong" or x.t == "Emph" then
		return first_text(x.content or {}, depth + 1)
	end
	if x.t ~= "Text" then return nil end
	while list[2] and list[2].t == "Text" do
		x.text = x.text .. list[2].text
		table.remove(list, 2)
	end
	return list
end

local function number_heading(h, counter)
	local level = h.level
	h.content = h.content or {}
	local list = first_text(h.content, 0)
	local found = list and read_number(list[1].text)
	local want = official(level, counter)
	if found then
		if found.style ~= level then
			warn(("“%s” is numbered in the style of an h%d heading; " ..
				"an h%d is numbered like “%s”"):format(found.written,
				found.style, level, want), h)
		elseif found.n ~= counter then
			warn(("heading number “%s” should be “%s”"):format(
				found.written, want), h)
		end
		list[1].text = list[1].text:sub(found.rest)
		if list[1].text == "" and (#list > 1 or list ~= h.content) then
			table.remove(list, 1)
		end
	end
	table.insert(h.content, 1, fazhi.Text(want))
end

-- Headings in document order, through filter sections (RawBlock) but
-- not into quotes or lists.
local function each_heading(blocks, f)
	for _, b in ipairs(blocks) do
		if b.t == "Heading" then
			f(b)
		elseif b.t == "RawBlock" then
			each_heading(b.content or {}, f)
		end
	end
end

return {
	Document = function(doc)
		local counter = { 0, 0, 0, 0, 0, 0 }
		each_heading(doc.content, function(h)
			local level = h.level
			if level < 2 or level > 5 then
				if level == 1 then counter = { 0, 0, 0, 0, 0, 0 } end
				return
			end
			counter[level] = counter[level] + 1
			for l = level + 1, 6 do counter[l] = 0 end
			if fazhi.stringify(h):match("^%s*$") then return end
			number_heading(h, counter[level])
		end)
		return doc
	end,
}
