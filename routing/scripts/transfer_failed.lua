-- transfer_failed: the telephony did not carry out a blind transfer routing had made
-- (AMI or Twilio refused, or did not answer).  The call goes back to the operator who had
-- it, if he is still free of other calls (after-call work or idle: on the call again);
-- else to the head of its old line.  An operator reserved for it meanwhile is released.
-- ARGV[A+1] id, ARGV[A+2] the transfer's id, ARGV[A+3] why (the telephony's words).
-- Returns {"ok", "operator"} | {"ok", "line", {assignment}|{}} | {"unknown"} | {"invalid", state}
housekeeping()
local id, xid = ARGV[A + 1], ARGV[A + 2]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "xid", "xstate", "xprev", "class", "queue")
if not r[1] then return {"unknown"} end
if r[3] ~= xid then return {"invalid", r[1]} end
if r[4] == "failed" then return {"ok", "done"} end -- a retry
if may("transfer_failed", r[1], r[2]) ~= "do" then return {"invalid", r[1]} end
local held = nil
if r[1] == "reserved" then
  local opid, place = unreserve(id, true)
  if place then held = {opid, place} end
else
  leave_line(id, r[6], r[7], "call")
end
local p = {}
for x in gmatch(r[5] .. SEP, "([^\t]*)\t") do p[#p + 1] = x end
local q, c, score, enq, answered, opid = p[1], p[2], p[3], p[4], p[5], p[6]
redis.call("HSET", ckey, "queue", q, "class", c, "score", score, "enq", enq, "xstate", "failed",
  "reserved_at", "")
emit("transfer_failed", "call", id, "queue", q, "operator", opid, "why", ARGV[A + 3])
local out
local okey = k("op", opid)
local o = redis.call("HMGET", okey, "state", "call", "last")
if o[3] == id and (o[1] == "wrap_up" or o[1] == "available") then
  if o[1] == "wrap_up" then redis.call("ZREM", k("wrapup"), opid) else remove_idle(opid) end
  redis.call("HSET", okey, "state", "on_call", "since", NOW_S, "call", id)
  redis.call("HDEL", okey, "last")
  redis.call("HSET", ckey, "state", "connected", "op", opid, "endpoint", op_info(opid).ep,
    "answered_at", answered ~= "" and answered or NOW_S)
  emit("operator_state", "operator", opid, "state", "on_call", "from", o[1])
  out = {"ok", "operator"}
else
  -- He has moved on: the head of its old line, offered at once.
  local head = redis.call("ZRANGE", k("wait", c), "0", "0", "WITHSCORES")
  if #head > 0 and tonumber(head[2]) <= tonumber(score) then score = tostring(tonumber(head[2]) - 0.001) end
  redis.call("HSET", ckey, "score", score, "state", "waiting", "op", "", "endpoint", "", "answered_at", "")
  join_line(id, c, class_def(c), q, score, enq, "call")
  local other = op_for_call(id, c)
  out = {"ok", "line", other and reserve(other, id, c) or {}}
end
if held then offer_operator(held[1], held[2]) end
return out
