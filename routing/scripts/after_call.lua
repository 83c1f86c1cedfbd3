-- after_call: the console asks, during a conversation, for the state the operator takes
-- when its wrap-up ends instead of available (routing/states.py AFTER_CALL; taken by
-- after_call in lib.lua); "" withdraws the request.  Any state the console sets replaces it.
-- ARGV[A+1..] operator id, state or "", allowed "from" states CSV
-- Returns {"ok", current} | {"invalid", current}
housekeeping()
local opid, want = ARGV[A + 1], ARGV[A + 2]
local okey = k("op", opid)
local cur = redis.call("HGET", okey, "state") or "offline"
if want == "" then
  redis.call("HDEL", okey, "after")
  emit("after_call", "operator", opid, "state", "")
  return {"ok", cur}
end
local allowed = false
for x in gmatch(ARGV[A + 3], "[^,]+") do
  if x == cur then allowed = true end
end
if not allowed then return {"invalid", cur} end
redis.call("HSET", okey, "after", want)
emit("after_call", "operator", opid, "state", want)
return {"ok", cur}
