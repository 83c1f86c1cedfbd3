-- abandon: the caller hung up while waiting or reserved; removed at once and counted.
-- ARGV[A+1] id, ARGV[A+2] menu node.
-- Returns {"ok", assignment?} | {"unknown"} | {"invalid", state}
housekeeping()
local id = ARGV[A + 1]
local ckey = k("call", id)
local r = redis.call("HMGET", ckey, "state", "queue", "class", "enq", "kind")
if not r[1] then return {"unknown"} end
local v = may("abandon", r[1], r[5])
if v == "done" then return {"ok"} end
if v ~= "do" then return {"invalid", r[1]} end
local opid, held = nil, nil
if r[1] == "reserved" then
  opid, held = unreserve(id, true)
else
  leave_line(id, r[3], r[2], r[5])
end
redis.call("HSET", ckey, "state", "abandoned", "op", "", "abandoned_at", NOW_S)
redis.call("EXPIRE", ckey, "3600")
local wait = NOW - tonumber(r[4])
local d = class_def(r[3])
stat(r[2], "abandoned")
if wait > (d and d.sl or 20) then stat(r[2], "abandoned_after") end
emit("abandoned", "call", id, "queue", s(r[2]), "node", ARGV[A + 2], "wait", tostring(wait), "operator", s(opid))
if held then
  local a = offer_operator(opid, held)
  if #a > 0 then return {"ok", a[1]} end
end
return {"ok"}
