-- Shared by every routing script (prepended at load time).
--
-- ARGV[1] key tag, e.g. "{ivr}" (all keys share it: one cluster slot)
-- ARGV[2] now, epoch seconds (the engine's injected clock; never TIME)
-- ARGV[3] JSON settings: res (reservation s), wrap (wrap-up s), keep (events kept),
--         aht (default handle s), day (stats day), closed (queues closed now),
--         overflow ([queue, max wait s, target] ...)
-- ARGV[4..] the script's own arguments.  KEYS[1] is the events stream (routes the call).
local TAG = ARGV[1]
local NOW_S = ARGV[2]
local NOW = tonumber(NOW_S)
local CFG = cjson.decode(ARGV[3])
local CLOSED = {}
for _, q in ipairs(CFG.closed) do CLOSED[q] = true end
local SCAN_DEPTH = 64
local STAFFED = {available = true, reserved = true, on_call = true, wrap_up = true}

local function k(...) return TAG .. ":" .. table.concat({...}, ":") end
local function s(x) if x == nil or x == false then return "" end return x end

local function emit(kind, fields)
  local args = {k("events"), "MAXLEN", "~", tostring(CFG.keep), "*", "type", kind, "at", NOW_S}
  for i = 1, #fields do args[#args + 1] = tostring(fields[i]) end
  redis.call("XADD", unpack(args))
end

local function stat(queue, field, n)
  local key = k("stats", CFG.day, queue)
  redis.call("HINCRBY", key, field, n or 1)
  redis.call("EXPIRE", key, 8 * 86400)
end

-- operators and classes, decoded once per script run --------------------------------
local op_cache = {}
local function op_info(id)
  local o = op_cache[id]
  if o == nil then
    local r = redis.call("HMGET", k("op", id), "skills", "langs")
    o = {skills = cjson.decode(r[1] or "{}"), langs = {}}
    for l in string.gmatch(r[2] or "", "[^,]+") do o.langs[l] = true end
    op_cache[id] = o
  end
  return o
end

local class_cache = {}
local function class_def(c)
  local d = class_cache[c]
  if d == nil then
    local raw = redis.call("HGET", k("classes"), c)
    if not raw then return nil end
    d = cjson.decode(raw)
    class_cache[c] = d
  end
  return d
end

-- The classes someone waits in, decoded, with one HMGET for those not seen yet in this run.
local function active_classes()
  local list = redis.call("SMEMBERS", k("active"))
  local missing = {}
  for _, c in ipairs(list) do
    if class_cache[c] == nil then missing[#missing + 1] = c end
  end
  if #missing > 0 then
    local raw = redis.call("HMGET", k("classes"), unpack(missing))
    for i, c in ipairs(missing) do
      if raw[i] then class_cache[c] = cjson.decode(raw[i]) end
    end
  end
  return list
end

-- An operator's level for a class: the lowest proficiency over its skills, 0 if unfit.
local function level(o, d)
  if not o.langs[d.l] then return 0 end
  local lv = 5
  for _, sk in ipairs(d.s) do
    local p = tonumber(o.skills[sk] or 0)
    if p < lv then lv = p end
  end
  return lv
end

-- The proficiency a call needs after waiting `wait` seconds (widening steps).
local function required(d, wait)
  if #d.w == 0 then return 1 end
  local req = 6
  for _, w in ipairs(d.w) do
    if wait >= w[1] and w[2] < req then req = w[2] end
  end
  return req
end

-- What an entry needs now; nil when it may not be served now (callback not due, queue closed).
local function requirement(cid, d)
  local r = redis.call("HMGET", k("call", cid), "enq", "nb", "kind")
  if not r[1] then return nil end
  if r[3] == "callback" then
    if CLOSED[d.q] then return nil end
    if r[2] and r[2] ~= "" and tonumber(r[2]) > NOW then return nil end
  end
  return required(d, NOW - tonumber(r[1]))
end

-- The best entry (lowest place score) that operator `opid` may take now.
local function best_for_op(opid)
  local o = op_info(opid)
  local best, best_score, best_class = nil, nil, nil
  for _, c in ipairs(active_classes()) do
    local d = class_cache[c]
    local lv = d and level(o, d) or 0
    if lv > 0 then
      local start, done = 0, false
      while not done and start < SCAN_DEPTH do
        local r = redis.call("ZRANGE", k("wait", c), start, start + 15, "WITHSCORES")
        if #r == 0 then break end
        for i = 1, #r, 2 do
          local cid, score = r[i], tonumber(r[i + 1])
          if best_score ~= nil and (score > best_score or (score == best_score and cid > best)) then
            done = true
            break
          end
          local req = requirement(cid, d)
          if req ~= nil and lv >= req then
            best, best_score, best_class = cid, score, c
            done = true
            break
          end
        end
        start = start + 16
      end
    end
  end
  return best, best_class
end

-- The longest-idle operator that may take entry `cid` of class `c` now.
local function op_for_call(cid, c)
  local d = class_def(c)
  local req = requirement(cid, d)
  if req == nil then return nil end
  for _, opid in ipairs(redis.call("ZRANGE", k("idle"), 0, -1)) do
    if level(op_info(opid), d) >= req then return opid end
  end
  return nil
end

local function make_available(opid, idle_score)
  redis.call("HSET", k("op", opid), "state", "available", "since", NOW_S, "call", "")
  redis.call("ZADD", k("idle"), idle_score, opid)
end

local function leave_line(cid, c, q)
  redis.call("ZREM", k("wait", c), cid)
  if redis.call("EXISTS", k("wait", c)) == 0 then redis.call("SREM", k("active"), c) end
  redis.call("ZREM", k("qwait", q), cid)
end

-- An assignment as returned to Python (see routing/engine.py _assignment).
local function assignment_of(cid)
  local r = redis.call("HMGET", k("call", cid), "op", "endpoint", "kind", "reserved_at", "ctx", "number", "queue")
  return {cid, s(r[1]), s(r[2]), s(r[3]), s(r[4]), s(r[5]), s(r[6]), s(r[7])}
end

local function reserve(opid, cid, c)
  local ckey, okey = k("call", cid), k("op", opid)
  local r = redis.call("HMGET", ckey, "queue", "kind")
  local q, kind = r[1], r[2]
  local d = class_def(c)
  local idle_score = redis.call("ZSCORE", k("idle"), opid) or NOW_S
  redis.call("ZREM", k("idle"), opid)
  leave_line(cid, c, q)
  local ttl = CFG.res
  if kind == "callback" then ttl = ttl + (d.r or 30) end
  local endpoint = redis.call("HGET", okey, "endpoint") or ""
  redis.call("HSET", ckey, "state", "reserved", "op", opid, "reserved_at", NOW_S, "endpoint", endpoint)
  redis.call("HSET", okey, "state", "reserved", "since", NOW_S, "call", cid, "idle_score", idle_score)
  redis.call("ZADD", k("reserved"), NOW + ttl, cid)
  if kind == "callback" then redis.call("RPUSH", k("cbdue"), cid) end
  emit("assigned", {"call", cid, "queue", q, "operator", opid, "kind", kind})
  return assignment_of(cid)
end

-- Give the freed operator the best entry, if any; returns a list of 0 or 1 assignments.
local function match_operator(opid)
  local cid, c = best_for_op(opid)
  if cid then return {reserve(opid, cid, c)} end
  return {}
end

local function match_all(limit)
  local out = {}
  if redis.call("SCARD", k("active")) == 0 then return out end
  for _, opid in ipairs(redis.call("ZRANGE", k("idle"), 0, -1)) do
    if #out >= limit then break end
    local cid, c = best_for_op(opid)
    if cid then out[#out + 1] = reserve(opid, cid, c) end
  end
  return out
end

-- Back to its place in line: same class, same score.
local function put_back(cid)
  local ckey = k("call", cid)
  local r = redis.call("HMGET", ckey, "class", "score", "queue", "enq", "kind")
  redis.call("ZADD", k("wait", r[1]), r[2], cid)
  redis.call("SADD", k("active"), r[1])
  redis.call("ZADD", k("qwait", r[3]), r[4], cid)
  local st = "waiting"
  if r[5] == "callback" then st = "callback" end
  redis.call("HSET", ckey, "state", st, "op", "", "endpoint", "", "reserved_at", "", "dialing", "")
end

-- End a reservation; the operator goes back to available at his old place in the idle order.
local function unreserve(cid)
  local opid = redis.call("HGET", k("call", cid), "op")
  redis.call("ZREM", k("reserved"), cid)
  redis.call("LREM", k("cbdue"), 0, cid)
  if opid and opid ~= "" then
    local r = redis.call("HMGET", k("op", opid), "state", "call", "idle_score")
    if r[1] == "reserved" and r[2] == cid then make_available(opid, r[3] or NOW_S) end
    return opid
  end
  return nil
end

local function housekeeping()
  for _, cid in ipairs(redis.call("ZRANGEBYSCORE", k("reserved"), "-inf", NOW_S, "LIMIT", 0, 100)) do
    local opid = unreserve(cid)
    put_back(cid)
    emit("reservation_expired", {"call", cid, "operator", s(opid)})
  end
  local wr = redis.call("ZRANGEBYSCORE", k("wrapup"), "-inf", NOW_S, "WITHSCORES", "LIMIT", 0, 100)
  for i = 1, #wr, 2 do
    local opid = wr[i]
    redis.call("ZREM", k("wrapup"), opid)
    if redis.call("HGET", k("op", opid), "state") == "wrap_up" then
      make_available(opid, wr[i + 1])
      emit("operator_state", {"operator", opid, "state", "available", "from", "wrap_up"})
    end
  end
end

local function overflow()
  for _, o in ipairs(CFG.overflow) do
    local q, cutoff, target = o[1], NOW - o[2], o[3]
    for _, cid in ipairs(redis.call("ZRANGEBYSCORE", k("qwait", q), "-inf", tostring(cutoff), "LIMIT", 0, 1000)) do
      local ckey = k("call", cid)
      local r = redis.call("HMGET", ckey, "kind", "class")
      if r[1] == "call" then
        leave_line(cid, r[2], q)
        redis.call("HSET", ckey, "state", "overflowed", "overflow_to", target)
        stat(q, "overflowed")
        emit("overflowed", {"call", cid, "queue", q, "to", target})
      end
    end
  end
end

local function overlaps(a, b)
  if #a == 0 or #b == 0 then return true end
  for _, x in ipairs(a) do
    for _, y in ipairs(b) do
      if x == y then return true end
    end
  end
  return false
end

-- Position (1-based) among entries of the same language that need any of the same
-- skills, and the expected wait: position * handle time / staffed operators.
local function placement(cid)
  local r = redis.call("HMGET", k("call", cid), "class", "score")
  local d = class_def(r[1])
  local ahead = 0
  for _, c2 in ipairs(active_classes()) do
    local d2 = class_cache[c2]
    if c2 == r[1] then
      ahead = ahead + (redis.call("ZRANK", k("wait", c2), cid) or 0)
    elseif d2 and d2.l == d.l and overlaps(d.s, d2.s) then
      ahead = ahead + redis.call("ZCOUNT", k("wait", c2), "-inf", "(" .. r[2])
    end
  end
  local staffed = nil
  local aht = 0
  if #d.s == 0 then
    staffed = tonumber(redis.call("HGET", k("staff"), "*|" .. d.l) or "0")
  end
  for _, sk in ipairs(d.s) do
    local n = tonumber(redis.call("HGET", k("staff"), sk .. "|" .. d.l) or "0")
    if staffed == nil or n < staffed then staffed = n end
    local h = tonumber(redis.call("HGET", k("aht"), sk) or CFG.aht)
    if h > aht then aht = h end
  end
  if aht == 0 then aht = CFG.aht end
  local pos = ahead + 1
  return {tostring(pos), tostring(pos * aht / math.max(staffed, 1))}
end

-- The operator's leg (or the citizen, for a callback) answered.
local function connect_call(cid, sl)
  local ckey = k("call", cid)
  local r = redis.call("HMGET", ckey, "op", "queue", "enq", "kind", "number")
  redis.call("ZREM", k("reserved"), cid)
  redis.call("LREM", k("cbdue"), 0, cid)
  redis.call("HSET", ckey, "state", "connected", "answered_at", NOW_S)
  redis.call("HSET", k("op", r[1]), "state", "on_call", "since", NOW_S)
  local wait = NOW - tonumber(r[3])
  if r[4] == "callback" then
    stat(r[2], "callbacks_answered")
    redis.call("HDEL", k("cbnum"), r[5])
    redis.call("ZREM", k("qcb", r[2]), cid)
  else
    stat(r[2], "answered")
    if wait <= sl then stat(r[2], "answered_within") end
  end
  emit("answered", {"call", cid, "queue", r[2], "operator", r[1], "kind", r[4], "wait", tostring(wait)})
end
