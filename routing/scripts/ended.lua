-- ended: the conversation is over; the operator goes to wrap-up, the call is gone.
-- ARGV[A+1] id.  Returns {"ok", assignment?} | {"unknown"} | {"invalid", state}
housekeeping()
local id = ARGV[A + 1]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "op", "answered_at", "class", "queue", "kind")
if not r[1] then return {"unknown"} end
local v = may("ended", r[1], r[6])
if v == "done" then return {"ok"} end
if v ~= "do" then return {"invalid", r[1]} end
release_consult(id) -- the caller hung up during a consultation: the next operator is free
redis.call("HSET", ckey, "state", "gone", "ended_at", NOW_S)
redis.call("EXPIRE", ckey, "3600")
local handle = NOW - tonumber(r[3]) + WRAP
local d = class_def(r[4])
if d and #d.s > 0 then
  local old = redis.call("HMGET", k("aht"), unpack(d.s))
  local upd = {}
  for i, sk in ipairs(d.s) do
    upd[#upd + 1] = sk
    upd[#upd + 1] = tostring(tonumber(old[i] or AHT) * 0.9 + handle * 0.1)
  end
  redis.call("HSET", k("aht"), unpack(upd))
end
emit("ended", "call", id, "queue", s(r[5]), "operator", s(r[2]), "kind", s(r[6]),
  "talk", tostring(NOW - tonumber(r[3])))
local okey = k("op", r[2])
local o = redis.call("HMGET", okey, "state", "call")
if o[1] == "on_call" and o[2] == id then
  if WRAP > 0 then
    redis.call("HSET", okey, "state", "wrap_up", "since", NOW_S, "call", "")
    deadline(k("wrapup"), tostring(NOW + WRAP), r[2], NOW + WRAP)
    emit("operator_state", "operator", r[2], "state", "wrap_up", "from", "on_call")
  elseif not after_call(r[2], "on_call") then
    local a = offer_operator(r[2], NOW_S, "on_call")
    if #a > 0 then return {"ok", a[1]} end
  end
end
return {"ok"}
