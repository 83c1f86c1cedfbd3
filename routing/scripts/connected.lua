-- connected: the operator's leg answered.  ARGV[A+1] id.
-- Returns {"ok"} | {"unknown"} | {"invalid", state}
local r = redis.call("HMGET", k("call", ARGV[A + 1]), "state", "kind")
if not r[1] then return {"unknown"} end
local v = may("connected", r[1], r[2])
if v == "done" then return {"ok"} end
if v ~= "do" then return {"invalid", r[1]} end
connect_call(ARGV[A + 1])
return {"ok"}
