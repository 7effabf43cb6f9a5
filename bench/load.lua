-- wrk script for every benchmark scenario:
--
--   wrk ... -s bench/load.lua URL -- TARGET OP [check]
--
-- TARGET is kv (kvstore-fcgi and the hello-world responder, which answers
-- the same requests), webdis or etcd; OP is get, set, tas, batch, list,
-- hotset or hottas. Every system gets the same work: keys "k:00000"..
-- "k:09999" picked at random, one 32-byte string value, lists of the 100
-- keys "l:000".."l:099".
--
-- The hot-key ops are what rate limits, sessions and counters do: hotset
-- has every connection write the one key "hot"; hottas is the counter
-- pattern on the one key "ctr", each request a compare-and-set from the
-- last value this thread knows to that value + 1, learning the current
-- value from a failed attempt (etcd: compare the key's version, which
-- every put increments; Redis has no compare-and-set over webdis, so it
-- runs INCR, its native counter). Its throughput is the SUCCESSFUL
-- increments per second ("ok" below), not the attempts.
--
-- incr hits ONE key ("hotn") from every connection: kvstore-fcgi's POST
-- /incr, Redis INCR through webdis, and for etcd, which has no increment,
-- a txn that compares the key's version and puts (the compare-and-put a
-- client loops on).
-- Requests are built once in init(), so request() costs the load
-- generator (which shares the cores with the servers) next to nothing.
--
-- With "check", every reply is compared with what that operation must
-- answer and done() reports how many did not match: the benchmark runs a
-- short checked round first, so a fast stream of errors can never pass
-- for throughput. Timed rounds run without it (parsing replies in Lua
-- would slow the load generator down).

local NKEYS = 10000
local NBATCH = 10
local POOL = 4096	-- pre-built requests for random multi-key bodies
local VALUE = "0123456789abcdef0123456789abcdef"

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Returns the standard base64 encoding of s (etcd's JSON gateway wants it).
local function b64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local c1 = math.floor(n / 262144) % 64
		local c2 = math.floor(n / 4096) % 64
		local c3 = math.floor(n / 64) % 64
		local c4 = n % 64
		out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) ..
		    b64chars:sub(c2 + 1, c2 + 1) ..
		    (b and b64chars:sub(c3 + 1, c3 + 1) or "=") ..
		    (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
	end
	return table.concat(out)
end

local function key(i)
	return string.format("k:%05d", i)
end

local json = { ["Content-Type"] = "application/json" }
local form = { ["Content-Type"] = "text/plain" }

-- One row per (target, op): how to build the request for key i (or for a
-- set of keys), and a Lua pattern every correct reply body contains.
local scenarios = {
	kv = {
		get = { each = function(i)
			return wrk.format("GET", "/get?key=" .. key(i))
		end, expect = '"success":true' },
		set = { each = function(i)
			return wrk.format("POST", "/set", json, '{"key":"' ..
			    key(i) .. '","value":"' .. VALUE .. '"}')
		end, expect = '"success":true' },
		tas = { each = function(i)
			return wrk.format("POST", "/test-and-set", json,
			    '{"key":"' .. key(i) .. '","oldValue":"' .. VALUE ..
			    '","newValue":"' .. VALUE .. '"}')
		end, expect = '"conditionMet":true' },
		batch = { many = function(keys)
			local ops = {}
			for _, i in ipairs(keys) do
				ops[#ops + 1] = '{"op":"set","key":"' .. key(i) ..
				    '","value":"' .. VALUE .. '"}'
			end
			return wrk.format("POST", "/batch", json,
			    '{"operations":[' .. table.concat(ops, ",") .. ']}')
		end, expect = '"success":true' },
		list = { once = function()
			return wrk.format("GET", "/list?prefix=l:&limit=100")
		end, expect = '"count":100' },
		hotset = { once = function()
			return wrk.format("POST", "/set", json,
			    '{"key":"hot","value":"' .. VALUE .. '"}')
		end, expect = '"success":true' },
		hottas = { counter = function(n)
			return wrk.format("POST", "/test-and-set", json,
			    '{"key":"ctr","oldValue":' .. n .. ',"newValue":' ..
			    (n + 1) .. '}')
		end, learn = function(body, n)
			if body:find('"conditionMet":true', 1, true) then
				return n + 1, true
			end
			local cur = body:match('"current":{"value":(%d+)')
			return cur and tonumber(cur) or n, false
		end, expect = '"conditionMet"' },
		incr = { once = function()
			return wrk.format("POST", "/incr", json, '{"key":"hotn"}')
		end, expect = '"success":true' },
		-- Random reads over the 200,000 keys "b:000000".. of the memory
		-- phase, built per request (too many to build in advance).
		getwide = { dynamic = function()
			return wrk.format("GET", string.format("/get?key=b:%06d",
			    math.random(0, 199999)))
		end, expect = '"success":true' },
	},
	webdis = {
		get = { each = function(i)
			return wrk.format("GET", "/GET/" .. key(i))
		end, expect = '"GET":"' .. VALUE },
		set = { each = function(i)
			return wrk.format("GET", "/SET/" .. key(i) .. "/" .. VALUE)
		end, expect = '"OK"' },
		batch = { many = function(keys)
			local args = {}
			for _, i in ipairs(keys) do
				args[#args + 1] = key(i) .. "/" .. VALUE
			end
			return wrk.format("POST", "/", form,
			    "MSET/" .. table.concat(args, "/"))
		end, expect = '"OK"' },
		hotset = { once = function()
			return wrk.format("GET", "/SET/hot/" .. VALUE)
		end, expect = '"OK"' },
		hottas = { counter = function(n)
			return wrk.format("GET", "/INCR/ctr")
		end, learn = function(body, n)
			return n, body:find('"INCR":', 1, true) ~= nil
		end, expect = '"INCR"' },
		incr = { once = function()
			return wrk.format("GET", "/INCR/hotn")
		end, expect = '"INCR":' },
	},
	etcd = {
		get = { each = function(i)
			return wrk.format("POST", "/v3/kv/range", json,
			    '{"key":"' .. b64(key(i)) .. '"}')
		end, expect = '"kvs"' },
		set = { each = function(i)
			return wrk.format("POST", "/v3/kv/put", json,
			    '{"key":"' .. b64(key(i)) .. '","value":"' ..
			    b64(VALUE) .. '"}')
		end, expect = '"revision"' },
		tas = { each = function(i)
			local k, v = b64(key(i)), b64(VALUE)
			return wrk.format("POST", "/v3/kv/txn", json,
			    '{"compare":[{"key":"' .. k .. '","result":"EQUAL",' ..
			    '"target":"VALUE","value":"' .. v .. '"}],' ..
			    '"success":[{"requestPut":{"key":"' .. k ..
			    '","value":"' .. v .. '"}}]}')
		end, expect = '"succeeded":true' },
		batch = { many = function(keys)
			local ops = {}
			for _, i in ipairs(keys) do
				ops[#ops + 1] = '{"requestPut":{"key":"' ..
				    b64(key(i)) .. '","value":"' .. b64(VALUE) .. '"}}'
			end
			return wrk.format("POST", "/v3/kv/txn", json,
			    '{"success":[' .. table.concat(ops, ",") .. ']}')
		end, expect = '"succeeded":true' },
		incr = { once = function()
			local k = b64("hotn")
			return wrk.format("POST", "/v3/kv/txn", json,
			    '{"compare":[{"key":"' .. k .. '","result":"GREATER",' ..
			    '"target":"VERSION","version":"-1"}],' ..
			    '"success":[{"requestPut":{"key":"' .. k ..
			    '","value":"' .. b64("1") .. '"}}]}')
		end, expect = '"succeeded":true' },
		list = { once = function()
			return wrk.format("POST", "/v3/kv/range", json,
			    '{"key":"' .. b64("l:") .. '","range_end":"' ..
			    b64("l;") .. '","limit":100}')
		end, expect = '"count":"100"' },
		hotset = { once = function()
			return wrk.format("POST", "/v3/kv/put", json,
			    '{"key":"' .. b64("hot") .. '","value":"' ..
			    b64(VALUE) .. '"}')
		end, expect = '"revision"' },
		hottas = { counter = function(n)
			local k = b64("ctr")
			return wrk.format("POST", "/v3/kv/txn", json,
			    '{"compare":[{"key":"' .. k .. '","result":"EQUAL",' ..
			    '"target":"VERSION","version":"' .. n .. '"}],' ..
			    '"success":[{"requestPut":{"key":"' .. k ..
			    '","value":"' .. b64(tostring(n + 1)) .. '"}}],' ..
			    '"failure":[{"requestRange":{"key":"' .. k .. '"}}]}')
		end, learn = function(body, n)
			if body:find('"succeeded":true', 1, true) then
				return n + 1, true
			end
			local cur = body:match('"version":"(%d+)"')
			return cur and tonumber(cur) or 0, false
		end, expect = '"header"' },
	},
}

local threads = {}

function setup(thread)
	threads[#threads + 1] = thread
	thread:set("thread_id", #threads)
end

local reqs, nreqs, expect

function init(args)
	local target, op = args[1], args[2]
	local s = scenarios[target] and scenarios[target][op]
	if s == nil then
		error("load.lua: no scenario " .. tostring(target) .. " " ..
		    tostring(op))
	end
	-- Distinct streams per thread, so threads do not hit the same keys
	-- in lockstep.
	math.randomseed(os.time() * 1000 + (thread_id or 0))
	reqs = {}
	known, ok = 0, 0
	if s.counter then
		-- Every request depends on the last reply: parsed even in
		-- timed rounds, for every system alike.
		request = function()
			return s.counter(known)
		end
		learn = s.learn
	elseif s.dynamic then
		request = s.dynamic
	elseif s.each then
		for i = 0, NKEYS - 1 do
			reqs[#reqs + 1] = s.each(i)
		end
	elseif s.many then
		for _ = 1, POOL do
			-- Distinct keys: etcd refuses a txn that names one twice.
			local keys, seen = {}, {}
			while #keys < NBATCH do
				local k = math.random(0, NKEYS - 1)
				if not seen[k] then
					seen[k] = true
					keys[#keys + 1] = k
				end
			end
			reqs[#reqs + 1] = s.many(keys)
		end
	else
		reqs[1] = s.once()
	end
	nreqs = math.max(#reqs, 1)
	expect = s.expect
	checked, bad = 0, 0
	check = args[3] == "check"
	if not check and not s.counter then
		response = nil
	end
end

function request()
	return reqs[math.random(1, nreqs)]
end

function response(status, headers, body)
	if learn ~= nil and status == 200 then
		local good
		known, good = learn(body, known)
		if good then
			ok = ok + 1
		end
	end
	if not check then
		return
	end
	checked = checked + 1
	if status ~= 200 or not body:find(expect, 1, true) then
		bad = bad + 1
		if bad == 1 then
			io.stderr:write("load.lua: unexpected reply " .. status ..
			    ": " .. body:sub(1, 200) .. "\n")
		end
	end
end

-- One machine-readable line for bench/driver.py.
function done(summary, latency, requests)
	local checked_n, bad_n, ok_n = 0, 0, 0
	for _, t in ipairs(threads) do
		checked_n = checked_n + (t:get("checked") or 0)
		bad_n = bad_n + (t:get("bad") or 0)
		ok_n = ok_n + (t:get("ok") or 0)
	end
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d " ..
	    "p99_us=%d max_us=%d errors=%d checked=%d bad=%d ok=%d\n",
	    summary.requests, summary.duration, latency:percentile(50),
	    latency:percentile(99), latency.max,
	    e.connect + e.read + e.write + e.status + e.timeout,
	    checked_n, bad_n, ok_n))
end
