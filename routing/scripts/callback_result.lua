-- callback_result: the dialer reports.  ARGV[A+1] id, ARGV[A+2] "1" answered / "0" not,
-- ARGV[A+3] next attempt at ("" = no more opening hours soon).
-- Returns {"ok", assignment?} | {"unknown"} | {"invalid", state}.  Not answered: the event
-- names the operator who was reserved (their console says the citizen did not answer).
local id = ARGV[A + 1]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "attempts", "max_attempts", "number", "queue")
if not r[1] or r[2] ~= "callback" then return {"unknown"} end
if ARGV[A + 2] == "1" then
  local v = may("callback_answered", r[1], r[2])
  if v == "done" then return {"ok"} end
  if v ~= "do" then return {"invalid", r[1]} end
  connect_call(id)
  return {"ok"}
end
local v = may("callback_not_answered", r[1], r[2])
if v == "done" then return {"ok"} end
if v ~= "do" then return {"invalid", r[1]} end
local attempts = tonumber(r[3]) + 1
local opid, held = unreserve(id, true)
redis.call("HSET", ckey, "attempts", tostring(attempts))
if attempts >= tonumber(r[4]) or ARGV[A + 3] == "" then
  redis.call("HSET", ckey, "state", "gone", "op", "", "failed_at", NOW_S)
  redis.call("EXPIRE", ckey, "3600")
  redis.call("HDEL", k("cbnum"), r[5])
  redis.call("ZREM", k("qcb", r[6]), id)
  stat(r[6], "callbacks_failed")
  emit("callback_failed", "call", id, "queue", s(r[6]), "attempts", tostring(attempts), "operator", s(opid))
else
  redis.call("HSET", ckey, "nb", ARGV[A + 3])
  put_back(id)
  emit("callback_no_answer", "call", id, "queue", s(r[6]), "attempts", tostring(attempts), "next_at", ARGV[A + 3],
       "operator", s(opid))
end
if held then
  local a = offer_operator(opid, held)
  if #a > 0 then return {"ok", a[1]} end
end
return {"ok"}
