-- set_state: the operator console changes an operator's state.
-- ARGV[A+1..] operator id, new state, allowed "from" states CSV, skills ("skill=level,..."),
--             languages CSV, endpoint, name
-- Returns {"invalid", current} | {"ok", previous, assignment?}
housekeeping()
local opid, new, sk, langs = ARGV[A + 1], ARGV[A + 2], ARGV[A + 4], ARGV[A + 5]
local endpoint, name = ARGV[A + 6], ARGV[A + 7]
local okey = k("op", opid)
local r = redis.call("HMGET", okey, "state", "sk", "langs", "endpoint", "name")
local cur = r[1] or "offline"
local allowed = false
for x in string.gmatch(ARGV[A + 3], "[^,]+") do
  if x == cur then allowed = true end
end
if not allowed then return {"invalid", cur} end

-- Staffed operators by skill and language (expected waits); unchanged while an operator
-- stays staffed with the same skills, as when wrap-up ends.
local function staff(skills, languages, n)
  local o = parse_op(skills, languages)
  for _, l in ipairs(o.lang_list) do
    redis.call("HINCRBY", k("staff"), "*|" .. l, n)
    for skill, _ in pairs(o.skills) do redis.call("HINCRBY", k("staff"), skill .. "|" .. l, n) end
  end
end

local same = r[2] == sk and r[3] == langs
if STAFFED[cur] and r[2] and (not same or not STAFFED[new]) then staff(r[2], r[3], -1) end
local idle_score = nil
if cur == "available" and (cur ~= new or not same) then
  idle_score = redis.call("ZSCORE", k("idle"), opid)
  remove_idle(opid) -- indexed under the skills stored until now
end
if not same or r[4] ~= endpoint or r[5] ~= name then
  redis.call("HSET", okey, "sk", sk, "langs", langs, "endpoint", endpoint, "name", name)
end
op_cache[opid] = {o = parse_op(sk, langs), ep = endpoint}
if not r[1] then redis.call("SADD", k("ops"), opid) end
if STAFFED[new] and (not same or not STAFFED[cur] or not r[2]) then staff(sk, langs, 1) end

local a = {}
if cur ~= new then
  if cur == "wrap_up" then redis.call("ZREM", k("wrapup"), opid) end
  if new == "wrap_up" then deadline(k("wrapup"), tostring(NOW + WRAP), opid) end
  emit("operator_state", "operator", opid, "state", new, "from", cur)
  if new == "available" then
    a = offer_operator(opid, NOW_S) -- reserved at once, or available
  else
    redis.call("HSET", okey, "state", new, "since", NOW_S, "call", "")
  end
elseif new == "available" then
  if not same then add_idle(opid, idle_score or NOW_S) end -- new skills, same place
  a = match_operator(opid)
end
if #a > 0 then return {"ok", cur, a[1]} end
return {"ok", cur}
