-- connected: the operator's leg answered.  ARGV[A+1] id.
-- Returns {"ok"} | {"unknown"} | {"invalid", state}
local r = redis.call("HMGET", k("call", ARGV[A + 1]), "state", "kind")
if not r[1] then return {"unknown"} end
if r[1] == "connected" then return {"ok"} end
if r[1] ~= "reserved" or r[2] ~= "call" then return {"invalid", r[1]} end
connect_call(ARGV[A + 1])
return {"ok"}
