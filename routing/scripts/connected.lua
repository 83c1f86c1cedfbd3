-- connected: the operator's leg answered.  ARGV[4] id, ARGV[5] service-level seconds.
-- Returns {"ok"} | {"unknown"} | {"invalid", state}
local r = redis.call("HMGET", k("call", ARGV[4]), "state", "kind")
if not r[1] then return {"unknown"} end
if r[1] == "connected" then return {"ok"} end
if r[1] ~= "reserved" or r[2] ~= "call" then return {"invalid", r[1]} end
connect_call(ARGV[4], tonumber(ARGV[5]))
return {"ok"}
