-- status: where a call stands.  ARGV[4] id.
-- Returns {state, position, wait, overflow_to, assignment...}
local r = redis.call("HMGET", k("call", ARGV[4]), "state", "overflow_to")
if not r[1] then return {"gone", "", "", ""} end
local st = r[1]
if st == "waiting" or st == "callback" then
  local p = placement(ARGV[4])
  return {st, p[1], p[2], ""}
end
if st == "reserved" or st == "connected" then
  return {st, "", "", "", assignment_of(ARGV[4])}
end
return {st, "", "", s(r[2])}
