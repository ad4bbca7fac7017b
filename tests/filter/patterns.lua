-- Pattern cases for the sandbox's own string.find/match/gmatch/gsub.
-- test_filter.c runs this file in stock Lua 5.4 and, as a module, in a
-- filter; the two transcripts must be identical.  Returns a function
-- that gives the transcript.

local cases = {
	{ "find", "hello world", "o w" },
	{ "find", "hello world", "o", 6 },
	{ "find", "hello world", "l+" },
	{ "find", "hello", "^h" },
	{ "find", "hello", "^e" },
	{ "find", "hello", "o$" },
	{ "find", "hello", "", 10 },
	{ "find", "hello", "", 6 },
	{ "find", "hello", "", -2 },
	{ "find", "a.b", ".", 1, true },
	{ "find", "a+b", "+", 1, true },
	{ "find", "a+b", "a+b" },
	{ "find", "abc", "b", -1 },
	{ "find", "abc", "b", -10 },
	{ "find", "x = 12", "(%w+) = (%d+)" },
	{ "find", "hello", "()ll()" },
	{ "find", "中文测试", "测" },
	{ "find", "a\0b", "\0" },
	{ "find", "a\0b", "%z" },
	{ "match", "key = value", "(%w+)%s*=%s*(%w+)" },
	{ "match", "  trim me  ", "^%s*(.-)%s*$" },
	{ "match", "THE (quick) fox", "%((%a+)%)" },
	{ "match", "f(a(b)c)d", "%b()" },
	{ "match", "f(a(b c)d", "%b()" },
	{ "match", "THE (quick) fox", "%f[%a]%a+", 5 },
	{ "match", "hello world", "%f[%w]%w+$" },
	{ "match", "abcabc", "(abc)%1" },
	{ "match", "abcabd", "(abc)%1" },
	{ "match", "2024-01-05", "(%d+)-(%d+)-(%d+)" },
	{ "match", "[x]", "[%]]" },
	{ "match", "a-b", "[a-]+" },
	{ "match", "xyz", "[^a-x]" },
	{ "match", "]", "[]]" },
	{ "match", "^", "[%^]" },
	{ "match", "a^", "a^" },
	{ "match", "hello", ".-l" },
	{ "match", "hello", ".*l" },
	{ "match", "hello", "l?lo" },
	{ "match", "helo", "l?lo" },
	{ "match", "aaab", "a-b" },
	{ "match", "aaa", "a-$" },
	{ "match", "x$y", "x$y" },
	{ "match", "abc", "((a)(b))" },
	{ "match", "abc", "()a()" },
	{ "match", "ABC123def", "%u+%d+%l+" },
	{ "match", "\t x", "%s+" },
	{ "match", "a,b;c", "%p" },
	{ "match", "0x1F", "%x+", 3 },
	{ "match", "ab", "%W" },
	{ "match", "a b", "%S+" },
	{ "match", "a\1b", "%c" },
	{ "match", "中文abc", "[\128-\255]+" },
	{ "match", "hello", "(h)(e)(l)(l)(o)" },
	{ "match", "aXb", "%a%u%a" },
	{ "match", "--x--", "%-+(x)%-+" },
	{ "gsub", "hello world", "o", "0" },
	{ "gsub", "hello", "l", "%%" },
	{ "gsub", "abc", "%w", "%0%0" },
	{ "gsub", "hello world", "(%w+)", "<%1>" },
	{ "gsub", "abc", "", "-" },
	{ "gsub", "abc", "b*", "-" },
	{ "gsub", "hello world", "%w+", { hello = "HI", world = false } },
	{ "gsub", "hello", "l", "x", 0 },
	{ "gsub", "aaa", "a", "b", 2 },
	{ "gsub", "hello", "(l)(l)", "%2%1" },
	{ "gsub", "hello", "^h", "H" },
	{ "gsub", "hello", "o$", "O" },
	{ "gsub", "a b c", " ", 1 },
	{ "gsub", "hello", "()", "%1" },
	{ "gsub", "one two", "(%w+)", "%0 %1" },
	{ "gsub", "abc", "%w", function(c) return c:upper() .. "." end },
	{ "gsub", "abc", "%w", function(c) if c == "b" then return nil end return 1 end },
	{ "gsub", "a,b", "(%w)", "%1%1" },
	{ "gsub", "中文", "文", "字" },
	{ "gmatch", "one two  three", "%a+" },
	{ "gmatch", "k=v, a=b", "(%w+)=(%w+)" },
	{ "gmatch", "abc", "" },
	{ "gmatch", "abc", ".", 2 },
	{ "gmatch", "abc", ".", -1 },
	{ "gmatch", "abc", ".", 10 },
	{ "gmatch", "^a^a", "^a" },
	{ "gmatch", "aaa", "a*" },
	{ "gmatch", "hello", "()l" },
	{ "gmatch", "a1b22c333", "%d+" },
	-- errors
	{ "find", "x", "%" },
	{ "find", "x", "[a" },
	{ "find", "x", "[%" },
	{ "find", "x", "(()" },
	{ "match", "x", "%1" },
	{ "match", "xx", "(x)%2" },
	{ "find", "x", "%f" },
	{ "find", "x", "%fx" },
	{ "match", "x", ")" },
	{ "match", "x", "(x" },
	{ "find", "x", "%b" },
	{ "find", "x", "%bx" },
	{ "gsub", "x", "x", true },
	{ "gsub", "x", "x", "%2" },
	{ "gsub", "x", "x", "%z" },
	{ "gsub", "x", "x", "%" },
	{ "gsub", "abc", ".", { a = 1, b = true } },
	{ "match", string.rep("a", 40), string.rep("(a)", 33) },
	{ "find", string.rep("a", 300), string.rep("a?", 300) .. "b" },
	{ "gmatch", "abc", "%" },
}

local function show(v)
	if type(v) == "string" then return string.format("%q", v) end
	if type(v) == "table" then return "table" end
	if type(v) == "function" then return "function" end
	return tostring(v)
end

local function pack(...)
	return { n = select("#", ...), ... }
end

local function clean(msg)
	return (tostring(msg):gsub("^.-%.lua:%d+: ", ""))
end

return function()
	local out = {}
	for i, c in ipairs(cases) do
		local fn = c[1]
		local args = {}
		for j = 2, #c do args[#args + 1] = show(c[j]) end
		local r
		if fn == "gmatch" then
			r = pack(pcall(function()
				local got = {}
				for a, b in string.gmatch(c[2], c[3], c[4]) do
					got[#got + 1] = show(a) .. (b ~= nil and ("|" .. show(b)) or "")
				end
				return table.concat(got, " ")
			end))
		else
			r = pack(pcall(string[fn], table.unpack(c, 2, #c)))
		end
		local vals = {}
		if r[1] then
			for j = 2, r.n do vals[#vals + 1] = show(r[j]) end
		else
			vals[1] = "error: " .. clean(r[2])
		end
		out[#out + 1] = ("%d %s(%s) -> %s"):format(i, fn,
			table.concat(args, ", "), table.concat(vals, ", "))
	end
	-- methods go through the strings' metatable
	out[#out + 1] = ("method: %s %s"):format(("abc"):find("b"), ("x-y"):gsub("-", "+"))
	return table.concat(out, "\n") .. "\n"
end
