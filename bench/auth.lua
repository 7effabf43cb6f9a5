-- wrk script of bench/auth: the scenarios of bench/load.lua with an
-- "Authorization: Bearer $BENCH_TOKEN" header on every request. It wraps
-- wrk.format, which load.lua calls for every request it builds, so
-- load.lua itself needs no change.
--
--   BENCH_TOKEN=kvs_... wrk ... -s bench/auth.lua URL -- kv get|set [check]

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
	error("bench/auth.lua: set BENCH_TOKEN")
end

local format = wrk.format
wrk.format = function(method, path, headers, body)
	local h = {}
	for k, v in pairs(headers or wrk.headers) do
		h[k] = v
	end
	h["Authorization"] = "Bearer " .. token
	return format(method, path, h, body)
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "load.lua")
