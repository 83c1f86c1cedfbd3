-- due: run matching, then hand reserved callbacks to the dialer (each exactly once;
-- a dialer that dies lets the reservation expire, and the callback keeps its place).
-- ARGV[A+1] largest number to take, ARGV[A+2] overflow rules JSON (see assign.lua).
-- Returns {calls assigned, callbacks to dial}.
housekeeping()
overflow(cjson.decode(ARGV[A + 2]))
local matched = match_all(1000)
local out = {}
for _ = 1, tonumber(ARGV[A + 1]) do
  local cid = redis.call("LPOP", k("cbdue"))
  if not cid then break end
  local r = redis.call("HMGET", k("call", cid), "state", "kind", "op", "queue")
  if r[1] == "reserved" and r[2] == "callback" then
    redis.call("HSET", k("call", cid), "dialing", NOW_S)
    emit("callback_dialled", "call", cid, "queue", s(r[4]), "operator", s(r[3]))
    out[#out + 1] = assignment_of(cid)
  end
end
return {matched, out}
