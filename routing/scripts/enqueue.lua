-- enqueue: place a call in line, then try to give it to the longest-idle fit operator.
-- ARGV[A+1..] id, queue, language, class, class definition (see lib.lua parse_def), score,
--             enqueued_at, priority, caller, channel, context JSON, skills CSV, identity
--             keys JSON, repeat window start, score and priority of a repeat caller,
--             resolved appeal statuses CSV, then the call's own appeal: number ("" for
--             none), topic, first log entry JSON
-- Returns {"exists", state, repeat} | {"assigned", assignment, repeat}
--       | {"waiting", position, wait, repeat}      (repeat: "1" for a repeat caller)
housekeeping()
local id, q, c, def = ARGV[A + 1], ARGV[A + 2], ARGV[A + 4], ARGV[A + 5]
local score, enq, prio = ARGV[A + 6], ARGV[A + 7], ARGV[A + 8]
local ckey = k("call", id)
local r0 = redis.call("HMGET", ckey, "state", "repeat")
local st = r0[1]
if st and st ~= "overflowed" then return {"exists", st, r0[2] or "0"} end

-- A repeat caller: an appeal opened within the window under one of the caller's
-- identities, not this call's own, and not yet resolved.
local own, idents = ARGV[A + 18], ARGV[A + 13]
local rep = "0"
if idents ~= "[]" then
  local resolved = {}
  for x in gmatch(ARGV[A + 17], "[^,]+") do resolved[x] = true end
  for _, ident in ipairs(cjson.decode(idents)) do
    for _, n in ipairs(redis.call("ZRANGEBYSCORE", k("appeals", ident), ARGV[A + 14], "+inf")) do
      local status = n ~= own and redis.call("HGET", k("appeal", n), "status")
      if status and not resolved[status] then rep = "1" break end
    end
    if rep == "1" then break end
  end
end
if rep == "1" then score, prio = ARGV[A + 15], ARGV[A + 16] end
if own ~= "" then open_appeal(own, ARGV[A + 19], idents, ARGV[A + 20]) end

-- The class definition follows the configuration; when it changes (new widening rules),
-- the matching sets of the class are rebuilt from its line.
local known = shared_for()
local old = nil
if known == nil or known.defs[c] ~= parse_def(def) then old = redis.call("HGET", k("classes"), c) or false end
if old ~= nil and old ~= def then
  local od = old and parse_def(old)
  local d = parse_def(def)
  redis.call("HSET", k("classes"), c, def)
  bump("av")
  class_cache[c] = d
  if od then
    for _, t in ipairs(od.ts) do
      redis.call("DEL", k("el", c, t), k("ec", c, t), k("pend", c, t))
    end
    redis.call("SREM", k("ecls"), c)
    if ecls ~= nil then ecls[c] = nil end
    set_pnext(c, false)
    local r = redis.call("ZRANGE", k("wait", c), "0", "-1")
    for _, cid in ipairs(r) do
      local e = redis.call("HMGET", k("call", cid), "score", "enq", "kind", "nb", "state")
      if e[5] == "waiting" or (e[5] == "callback" and not redis.call("ZSCORE", k("cblater"), cid)) then
        index_entry(cid, c, d, e[1], e[2], e[3])
      end
    end
  end
end
local d = class_def(c)

redis.call("DEL", ckey)
redis.call("HSET", ckey, "id", id, "queue", q, "lang", ARGV[A + 3], "class", c, "score", score,
  "enq", enq, "prio", prio, "repeat", rep, "caller", ARGV[A + 9],
  "channel", ARGV[A + 10], "ctx", ARGV[A + 11], "skills", ARGV[A + 12], "kind", "call",
  "state", "waiting")
join_line(id, c, d, q, score, enq, "call")
stat(q, "enqueued")
emit("enqueued", "call", id, "queue", q, "priority", prio, "repeat", rep, "language", ARGV[A + 3])
local opid = op_for_call(id, c)
if opid then return {"assigned", reserve(opid, id, c), rep} end
local p = placement(id)
return {"waiting", p[1], p[2], rep}
