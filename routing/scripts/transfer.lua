-- transfer: the operator passes the live call on, blind.  To a queue (mode "queue"): the
-- call waits at the head of that queue's line (the class of the call's language and the
-- queue's skills) and is offered at once to an idle fit operator.  To a named operator
-- (mode "operator"): reserved for him now, if he is ready; refused otherwise.  The
-- operator who had it leaves it (wrap-up).  The call keeps its context and gains a
-- transfer record; its appeal's log a line.  What it was (queue, class, place, enqueue
-- time, answer time, operator) is kept in "xprev" for transfer_failed.
-- ARGV[A+1..] id, transfer id, the operator who transfers, mode, target (queue | operator
--             id), class and its definition (mode queue; "" otherwise), the record JSON,
--             the appeal number ("" none), the appeal's log entry JSON
-- Returns {"ok", {assignment}|{}, {his next assignment}|{}} | {"unknown"}
--       | {"invalid", state} | {"refused", why}
housekeeping()
local id, xid, by, mode, target = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4], ARGV[A + 5]
local c2, def2 = ARGV[A + 6], ARGV[A + 7]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "op", "queue", "class", "score", "enq",
  "answered_at", "xid", "consult")
if not r[1] then return {"unknown"} end
if r[9] == xid then return {"ok", {}, {}} end -- this very transfer happened: a retry
local v = may("transfer", r[1], r[2])
if mode == "operator" then v = may("transfer_to_operator", r[1], r[2]) end
if v ~= "do" then return {"invalid", r[1]} end
if r[3] ~= by then return {"refused", "not_yours"} end
if r[10] and r[10] ~= "" then return {"refused", "consulting"} end

local assigned = {}
if mode == "queue" then
  if closed(target) then return {"refused", "closed"} end
  local d2 = parse_def(def2)
  if not d2 then return {"refused", "unknown_queue"} end
  if not redis.call("HGET", k("classes"), c2) then
    redis.call("HSET", k("classes"), c2, def2)
    bump("av")
  end
  local d = class_def(c2)
  -- The head of that line: ahead of whatever leads it now (never behind its own place).
  local score = tonumber(r[6])
  local head = redis.call("ZRANGE", k("wait", c2), "0", "0", "WITHSCORES")
  if #head > 0 and tonumber(head[2]) <= score then score = tonumber(head[2]) - 0.001 end
  redis.call("HSET", ckey, "xprev", table.concat({r[4], r[5], r[6], r[7], s(r[8]), by}, SEP),
    "xid", xid, "xstate", "blind", "queue", target, "class", c2, "score", tostring(score),
    "enq", NOW_S, "state", "waiting", "op", "", "endpoint", "", "reserved_at", "", "answered_at", "")
  join_line(id, c2, d, target, tostring(score), NOW_S, "call")
  stat(target, "transferred_in")
  emit("transferred", "call", id, "queue", s(r[4]), "to_queue", target, "operator", by, "mode", "blind")
  local other = op_for_call(id, c2)
  if other then assigned = reserve(other, id, c2) end
else
  local why = not_takeable(target, by)
  if why then return {"refused", why} end
  redis.call("HSET", ckey, "xprev", table.concat({r[4], r[5], r[6], r[7], s(r[8]), by}, SEP),
    "xid", xid, "xstate", "blind", "answered_at", "")
  emit("transferred", "call", id, "queue", s(r[4]), "to_operator", target, "operator", by, "mode", "blind")
  assigned = reserve(target, id, r[5])
end
record_transfer(ckey, ARGV[A + 8], ARGV[A + 9], ARGV[A + 10])
return {"ok", assigned, leave_conversation(by, id)}
