-- request_callback: the waiting call becomes a callback that keeps its place in line.
-- ARGV[4] id, ARGV[5] number, ARGV[6] attempts allowed, ARGV[7] masked number (for events)
-- Returns {"ok"} | {"unknown"} | {"invalid", state} | {"exists", holder}
housekeeping()
local id, number = ARGV[4], ARGV[5]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "number", "queue", "enq")
if not r[1] then return {"unknown"} end
if r[2] == "callback" and r[3] == number then return {"ok"} end
if r[1] ~= "waiting" then return {"invalid", r[1]} end
local holder = redis.call("HGET", k("cbnum"), number)
if holder and holder ~= id then return {"exists", holder} end
redis.call("HSET", k("cbnum"), number, id)
redis.call("HSET", ckey, "kind", "callback", "state", "callback", "number", number, "attempts", "0",
  "max_attempts", ARGV[6], "nb", "", "requested_at", NOW_S)
redis.call("ZADD", k("qcb", r[4]), r[5], id)
stat(r[4], "callbacks_requested")
emit("callback_requested", {"call", id, "queue", r[4], "number", ARGV[7]})
return {"ok"}
