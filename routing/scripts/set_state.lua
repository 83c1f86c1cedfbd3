-- set_state: the operator console changes an operator's state.
-- ARGV[4..] operator id, new state, allowed "from" states CSV, skills JSON,
--           languages CSV, endpoint, name
-- Returns {"invalid", current} | {"ok", previous, assignment?}
housekeeping()
local opid, new = ARGV[4], ARGV[5]
local okey = k("op", opid)
local cur = redis.call("HGET", okey, "state") or "offline"
local allowed = {}
for x in string.gmatch(ARGV[6], "[^,]+") do allowed[x] = true end
if not allowed[cur] then return {"invalid", cur} end

local function staff(n)
  local r = redis.call("HMGET", okey, "skills", "langs")
  if not r[1] then return end
  local skills = cjson.decode(r[1])
  for l in string.gmatch(r[2] or "", "[^,]+") do
    redis.call("HINCRBY", k("staff"), "*|" .. l, n)
    for sk, _ in pairs(skills) do redis.call("HINCRBY", k("staff"), sk .. "|" .. l, n) end
  end
end

if STAFFED[cur] then staff(-1) end
redis.call("HSET", okey, "skills", ARGV[7], "langs", ARGV[8], "endpoint", ARGV[9], "name", ARGV[10])
redis.call("SADD", k("ops"), opid)
if STAFFED[new] then staff(1) end

if cur ~= new then
  if cur == "available" then redis.call("ZREM", k("idle"), opid) end
  if cur == "wrap_up" then redis.call("ZREM", k("wrapup"), opid) end
  redis.call("HSET", okey, "state", new, "since", NOW_S, "call", "")
  if new == "available" then redis.call("ZADD", k("idle"), NOW_S, opid) end
  if new == "wrap_up" then redis.call("ZADD", k("wrapup"), NOW + CFG.wrap, opid) end
  emit("operator_state", {"operator", opid, "state", new, "from", cur})
end
if new == "available" then
  local a = match_operator(opid)
  if #a > 0 then return {"ok", cur, a[1]} end
end
return {"ok", cur}
