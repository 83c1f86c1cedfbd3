-- request_callback: the waiting call becomes a callback that keeps its place in line.
-- ARGV[A+1] id, ARGV[A+2] number, ARGV[A+3] attempts allowed, ARGV[A+4] masked number
-- (for events).  Returns {"ok"} | {"unknown"} | {"invalid", state} | {"exists", holder}
housekeeping()
local id, number = ARGV[A + 1], ARGV[A + 2]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "kind", "number", "queue", "enq", "class", "score")
if not r[1] then return {"unknown"} end
if r[2] == "callback" and r[3] == number then return {"ok"} end
if may("request_callback", r[1], r[2]) ~= "do" then return {"invalid", r[1]} end
local holder = redis.call("HGET", k("cbnum"), number)
if holder and holder ~= id then return {"exists", holder} end
redis.call("HSET", k("cbnum"), number, id)
redis.call("HSET", ckey, "kind", "callback", "state", "callback", "number", number, "attempts", "0",
  "max_attempts", ARGV[A + 3], "nb", "", "requested_at", NOW_S)
-- Same place in line; in the matching sets it moves from calls to callbacks.
local d = class_def(r[6])
if d then
  for _, t in ipairs(d.ts) do
    if redis.call("ZREM", k("el", r[6], t), id) == 1 then add_eligible("ec", r[6], t, r[7], id) end
  end
end
redis.call("ZADD", k("qcb", r[4]), r[5], id)
stat(r[4], "callbacks_requested")
emit("callback_requested", "call", id, "queue", s(r[4]), "number", ARGV[A + 4])
return {"ok"}
