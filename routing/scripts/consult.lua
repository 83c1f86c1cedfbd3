-- consult: warm transfer.  The conversation stays the first operator's while he talks to
-- the next one; the next one is reserved for the consultation ("consult" on the call; he
-- has no reservation deadline: the first operator completes or cancels, or the call ends).
--   start     the next operator: a named one, if ready; or the longest-idle operator fit for
--             the queue's class of this call's language (refused when there is none)
--   complete  the call is the next operator's (on_call), the first leaves it (wrap-up);
--             the transfer record and the appeal's log line are written
--   cancel    the next operator is released (the next entry, or available at his place)
-- ARGV[A+1..] id, transfer id, action, the first operator, mode ("queue" | "operator"),
--             target, class and its definition (start, mode queue), the record JSON, the
--             appeal number, the appeal's log entry JSON
-- Returns {"ok", next operator, endpoint, {his next assignment}|{}} | {"unknown"}
--       | {"invalid", state} | {"refused", why}
housekeeping()
local id, xid, action, by = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "op", "consult", "xid", "xstate")
if not r[1] then return {"unknown"} end
local function reply(opid, extra)
  return {"ok", opid, op_info(opid).ep, extra or {}}
end
if r[5] == xid and r[6] == action then -- this very step happened: a retry
  local opid = r[4] ~= "" and r[4] or r[3]
  return reply(opid or "")
end
local v
if action == "complete" then v = may("consult_complete", r[1], r[2])
elseif action == "cancel" then v = may("consult_cancel", r[1], r[2])
else v = may("consult", r[1], r[2]) end
if v ~= "do" then return {"invalid", r[1]} end
if r[3] ~= by then return {"refused", "not_yours"} end

if action == "start" then
  if r[4] and r[4] ~= "" then return {"refused", "consulting"} end
  local mode, target = ARGV[A + 5], ARGV[A + 6]
  local opid
  if mode == "queue" then
    if closed(target) then return {"refused", "closed"} end
    local d2 = parse_def(ARGV[A + 8])
    if not d2 then return {"refused", "unknown_queue"} end
    local lv = required(d2, 0)
    if lv > 5 then lv = 1 end
    opid = idle_op_for(ARGV[A + 7], d2, lv)
    if not opid then return {"refused", "no_operator"} end
  else
    local why = not_takeable(target, by)
    if why then return {"refused", why} end
    opid = target
  end
  local idle = redis.call("ZSCORE", k("idle"), opid) or NOW_S
  remove_idle(opid)
  redis.call("HSET", k("op", opid), "state", "reserved", "since", NOW_S, "call", id,
    "idle_score", idle, "consult", "1")
  local rec = ARGV[A + 9] -- the record, with the next operator named
  rec = sub(rec, 1, #rec - 1) .. ',"next":' .. cjson.encode(opid) .. "}"
  redis.call("HSET", ckey, "consult", opid, "xid", xid, "xstate", "start", "xrec", rec)
  emit("consult", "call", id, "operator", opid, "by", by)
  emit("consult_began", "call", id, "operator", by, "next", opid)
  return reply(opid)
end

if r[5] ~= xid or not r[4] or r[4] == "" then return {"refused", "no_consultation"} end
local opid = r[4]
if action == "cancel" then
  local _, next_call = release_consult(id)
  redis.call("HSET", ckey, "xstate", "cancel")
  emit("consult_cancelled", "call", id, "operator", opid, "by", by)
  emit("consult_over", "call", id, "operator", by, "next", opid, "how", "cancelled")
  return reply(opid, next_call[1])
end

-- complete
local okey = k("op", opid)
local o = redis.call("HMGET", okey, "state", "call")
if not (o[1] == "reserved" and o[2] == id) then return {"refused", "no_consultation"} end
redis.call("HDEL", okey, "consult")
redis.call("HSET", okey, "state", "on_call", "since", NOW_S, "misses", "0")
local q = redis.call("HGET", ckey, "queue")
redis.call("HSET", ckey, "op", opid, "endpoint", op_info(opid).ep, "consult", "", "xstate", "complete",
  "answered_at", NOW_S)
record_transfer(ckey, redis.call("HGET", ckey, "xrec") or ARGV[A + 9], ARGV[A + 10], ARGV[A + 11])
emit("transferred", "call", id, "queue", s(q), "to_operator", opid, "operator", by, "mode", "warm")
emit("took_over", "call", id, "queue", s(q), "operator", opid, "from", by)
return reply(opid, leave_conversation(by, id)[1])
