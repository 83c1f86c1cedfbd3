-- missed: the reserved operator did not answer.  The call goes back to the head of its
-- line with everything collected (its screen-pop stays in the call); the operator is not
-- ready (offline, why "missed") until he sets himself ready, and his misses in a row are
-- counted (reset when he answers).  Then the call is offered at once to an idle operator.
-- ARGV[A+1] id, ARGV[A+2] the operator who missed it, ARGV[A+3] why (telephony's word).
-- Returns {"ok", misses, assignment?} | {"unknown"} | {"invalid", state}
housekeeping()
local id, opid = ARGV[A + 1], ARGV[A + 2]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "op", "class", "score", "queue")
if not r[1] then return {"unknown"} end
local v = may("missed", r[1], r[2])
if v == "done" or (v == "do" and r[3] ~= opid) then return {"ok", "0"} end -- already moved on
if v ~= "do" then return {"invalid", r[1]} end
-- Released without going back to the idle order: he is not ready now ("missed" replaces
-- any state he asked for after the call: there was no call).
local okey = k("op", opid)
redis.call("HDEL", okey, "after")
unreserve(id, true)
local o = op_info(opid)
if o then staff(o, "-1") end
local misses = redis.call("HINCRBY", okey, "misses", "1")
redis.call("HSET", okey, "state", "offline", "since", NOW_S, "call", "", "why", "missed")
-- The head of its line: ahead of whatever now leads its class.
local head = redis.call("ZRANGE", k("wait", r[4]), "0", "0", "WITHSCORES")
if #head > 0 and tonumber(head[2]) <= tonumber(r[5]) then
  redis.call("HSET", ckey, "score", tostring(tonumber(head[2]) - 0.001))
end
put_back(id)
emit("missed", "call", id, "queue", s(r[6]), "operator", opid, "why", ARGV[A + 3],
  "misses", tostring(misses))
emit("operator_state", "operator", opid, "state", "offline", "from", "reserved", "why", "missed")
local c = r[4]
local other = op_for_call(id, c)
if other then return {"ok", tostring(misses), reserve(other, id, c)} end
return {"ok", tostring(misses)}
