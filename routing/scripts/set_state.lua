-- set_state: the operator console changes an operator's state.
-- ARGV[A+1..] operator id, new state, allowed "from" states CSV, configuration (see
--             parse_op in lib.lua: skills TAB languages TAB endpoint TAB name)
-- Returns {"invalid", current} | {"ok", previous, assignment?}
housekeeping()
local opid, new, cfg = ARGV[A + 1], ARGV[A + 2], ARGV[A + 4]
local okey = k("op", opid)
local r = redis.call("HMGET", okey, "state", "cfg")
local cur = r[1] or "offline"
local allowed = false
for x in gmatch(ARGV[A + 3], "[^,]+") do
  if x == cur then allowed = true end
end
if not allowed then return {"invalid", cur} end

-- The operator's own choice replaces a state asked for after the call (after_call.lua).
redis.call("HDEL", okey, "after")

-- Staffed operators (staff in lib.lua) are unchanged while an operator stays staffed with
-- the same skills, as when wrap-up ends.

local same = r[2] == cfg -- nothing to write
local o = parse_op(cfg)
local old = same and o or (r[2] and parse_op(r[2])) or nil
local same_skills = old ~= nil and old.sk_text == o.sk_text and old.langs_text == o.langs_text
if STAFFED[cur] and old and (not same_skills or not STAFFED[new]) then staff(old, "-1") end
local idle_score = nil
if cur == "available" and (cur ~= new or not same_skills) then
  idle_score = redis.call("ZSCORE", k("idle"), opid)
  remove_idle(opid) -- indexed under the skills stored until now
end
if not same then
  local sk, langs, endpoint, name = string.match(cfg, "^(.-)\t(.-)\t(.-)\t(.*)$")
  redis.call("HSET", okey, "cfg", cfg, "sk", sk or "", "langs", langs or "", "endpoint", endpoint or "",
    "name", name or "")
end
op_cache[opid] = o
if not r[1] then redis.call("SADD", k("ops"), opid) end
if STAFFED[new] and (not same_skills or not STAFFED[cur] or not old) then staff(o, "1") end

local a = {}
if cur ~= new then
  if cur == "wrap_up" then redis.call("ZREM", k("wrapup"), opid) end
  if new == "wrap_up" then deadline(k("wrapup"), tostring(NOW + WRAP), opid, NOW + WRAP) end
  if new == "available" then
    a = offer_operator(opid, NOW_S, cur) -- reserved at once, or available
  else
    redis.call("HSET", okey, "state", new, "since", NOW_S, "call", "")
    emit("operator_state", "operator", opid, "state", new, "from", cur)
  end
elseif new == "available" then
  if not same_skills then add_idle(opid, idle_score or NOW_S) end -- new skills, same place
  a = match_operator(opid)
end
if #a > 0 then return {"ok", cur, a[1]} end
return {"ok", cur}
