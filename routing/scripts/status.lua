-- status: where a call stands.  ARGV[A+1] id.
-- Returns {state, position, wait, overflow_to, assignment...}
local id = ARGV[A + 1]
local r = redis.call("HMGET", k("call", id), "state", "overflow_to")
if not r[1] then return {"gone", "", "", ""} end
local st = r[1]
if st == "waiting" or st == "callback" then
  local p = placement(id)
  return {st, p[1], p[2], ""}
end
if st == "reserved" or st == "connected" then
  return {st, "", "", "", assignment_of(id)}
end
return {st, "", "", s(r[2])}
