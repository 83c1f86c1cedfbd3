-- reindex: (re)build every derived index from the calls and operators themselves: class
-- definitions in the current format, active classes by language and skill, the matching
-- sets, callbacks waiting for a retry, the idle-operator index.  Run once by the first
-- engine of a new version (see Router.__init__); safe to run at any time.
-- ARGV[A+1] JSON {queue: service-level seconds}, ARGV[A+2] schema version to record.
-- Returns {classes, entries, operators}.
local sl = cjson.decode(ARGV[A + 1])
redis.call("DEL", k("meta")) -- deadlines and versions start afresh (a new ep)
bump("av")

-- Class definitions written by earlier versions (JSON {q, l, s, w, r}).
local function convert(raw)
  local j = cjson.decode(raw)
  local th = {}
  for lv = 1, 5 do
    local t = nil
    if #j.w == 0 then
      t = "a"
    else
      for _, w in ipairs(j.w) do
        if w[2] <= lv and (t == nil or w[1] < t) then t = w[1] end
      end
    end
    th[lv] = t == nil and "-" or tostring(t)
  end
  return table.concat({j.q, j.l, table.concat(j.s, ","), tostring(j.r or 30),
    tostring(sl[j.q] or 20), table.concat(th, ",")}, SEP)
end

local all = redis.call("HGETALL", k("classes"))
local classes = {}
for i = 1, #all, 2 do
  local c, raw = all[i], all[i + 1]
  if string.sub(raw, 1, 1) == "{" then
    raw = convert(raw)
    redis.call("HSET", k("classes"), c, raw)
  end
  local d = parse_def(raw)
  if d then
    class_cache[c] = d
    classes[#classes + 1] = c
  end
end

local entries = 0
redis.call("DEL", k("active"), k("cblater"), k("ecls"), k("pnext"))
for _, c in ipairs(classes) do
  local d = class_cache[c]
  for _, key in ipairs(act_keys(c, d)) do redis.call("DEL", key) end
  for _, t in ipairs(d.ts) do redis.call("DEL", k("el", c, t), k("ec", c, t), k("pend", c, t)) end
end
for _, c in ipairs(classes) do
  local d = class_cache[c]
  local ids = redis.call("ZRANGE", k("wait", c), "0", "-1")
  if #ids > 0 then activate(c, d) end
  for _, cid in ipairs(ids) do
    local e = redis.call("HMGET", k("call", cid), "score", "enq", "kind", "nb", "state")
    if e[5] == "waiting" or e[5] == "callback" then
      entries = entries + 1
      if e[3] == "callback" and e[4] and e[4] ~= "" and tonumber(e[4]) > NOW then
        deadline(k("cblater"), e[4], cid, tonumber(e[4]))
      else
        index_entry(cid, c, d, e[1], e[2], e[3])
      end
    end
  end
end

-- Operators: skills in the compact form, and the idle index.
local ops = redis.call("SMEMBERS", k("ops"))
for _, opid in ipairs(ops) do
  local r = redis.call("HMGET", k("op", opid), "cfg", "sk", "skills", "langs", "endpoint", "name")
  if not r[1] then
    local sk = r[2]
    if not sk then
      local parts = {}
      for name, lv in pairs(cjson.decode(r[3] or "{}")) do parts[#parts + 1] = name .. "=" .. tostring(lv) end
      table.sort(parts)
      sk = table.concat(parts, ",")
    end
    redis.call("HSET", k("op", opid), "sk", sk, "cfg", table.concat({sk, s(r[4]), s(r[5]), s(r[6])}, SEP))
  end
  for _, key in ipairs(idle_keys(op_info(opid))) do redis.call("DEL", key) end
end
local idle = redis.call("ZRANGE", k("idle"), "0", "-1", "WITHSCORES")
for i = 1, #idle, 2 do add_idle(idle[i], idle[i + 1]) end
redis.call("SET", k("schema"), ARGV[A + 2])
return {#classes, entries, #ops}
