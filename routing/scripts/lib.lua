-- Shared by every routing script.  Loaded once as a Redis Function library on Redis >= 7
-- (each script body a function), or prepended to each script body for EVALSHA on older
-- servers; either way every call starts with begin(ARGV).  See routing/scripts/__init__.py.
--
-- ARGV[1] key tag, e.g. "{ivr}" (all keys share it: one cluster slot)
-- ARGV[2] now, epoch seconds (the engine's injected clock; never TIME)
-- ARGV[3] settings, tab-separated: stats day, reservation s, wrap-up s, events kept,
--         default handle s, queues closed now ("\n"-separated); one argument, parsed once
--         per distinct text (each argument of a call costs the server about as much as a
--         table lookup in Redis, so fewer is better)
-- ARGV[A + 1 ..] the script's own arguments.  KEYS[1] is the events stream (routes the call).
--
-- Plain scalars, no JSON: nothing is decoded on the hot path.  Indexes (see routing/keys.py):
--   wait:<c>        every entry of class c by place (position, expected wait)
--   el:<c>:<T>      calls of c that waited >= T s, by place  }  matching: an operator of
--   ec:<c>:<T>      due callbacks of c that waited >= T s    }  level lv reads the heads for
--   pend:<c>:<T>    entries of c not yet in el/ec:<T>, by enqueue time   T = threshold(c, lv)
--   pnext           class -> no entry of pend:<c>:* is due to move before this time
--   ecls            classes that have an ec:<c>:<T> set (callbacks in the matching sets)
--   cblater         callbacks waiting for their retry time, by that time
--   meta            hk: no reservation, wrap-up or callback retry is due before this time;
--                   av / pv: versions of the active classes and definitions / of pnext and
--                   ecls (bumped on every change); ep: set once, tells a new data set apart
--   ix:<lang>|<skill>|<level>, ix:<lang>|*   idle operators by idle time
--   act:<lang>, act:<lang>|<skill>, act:<lang>|*   active classes by language and skill
--
-- State kept between calls (a Function library lives on): caches of parsed definitions,
-- keyed by the stored text itself, so they can never be stale; and, per key tag, what an
-- operator's matching reads (classes he may serve, their definitions, pnext, ecls),
-- valid while meta's versions are those it was read under (see shared_for).  Nothing
-- kept grows with the number of operators or calls, only with the configuration: Redis
-- runs a forced garbage-collector step after every 50th script call, and its cost grows
-- with the live heap (with 1,000 operators' parsed records kept it doubled that call's
-- time; see docs/scale-out.md).  An operator is parsed afresh in each call that needs him.
local A = 3
local SEP = "\t"
--@STATES@
local find, sub, byte, gmatch, gsub -- string functions (a Function library may not read globals at load)

-- this call ---------------------------------------------------------------------------
local TAG, NOW_S, NOW, DAY, RES, WRAP, KEEP, AHT, CLOSED
local closed_set, op_cache, class_cache, pnext, ecls
local meta_read, hk_val, av_val, pv_val, ep_val, bumped, sh

-- parsed text -> value, across calls; dropped when large
local def_parse, settings_parse, parsed = {}, {}, 0
-- per key tag: {ep, av, pv, lists = {profile -> classes}, defs = {class -> def}, pn =
-- {class -> pnext}, cb = set of classes with callbacks or nil}
local shared = {}

local function begin(argv)
  find, sub, byte, gmatch, gsub = string.find, string.sub, string.byte, string.gmatch, string.gsub
  if parsed > 5000 then def_parse, settings_parse, parsed = {}, {}, 0 end
  TAG, NOW_S, NOW = argv[1], argv[2], tonumber(argv[2])
  local text = argv[3]
  local st = settings_parse[text]
  if st == nil then
    st = {}
    local pos = 1
    for i = 1, 5 do
      local e = find(text, "\t", pos, true)
      st[i] = e and sub(text, pos, e - 1) or ""
      pos = e and e + 1 or #text + 1
    end
    st[6] = sub(text, pos)
    st[2], st[3], st[5] = tonumber(st[2]) or 0, tonumber(st[3]) or 0, tonumber(st[5]) or 0
    settings_parse[text] = st
    parsed = parsed + 1
  end
  DAY, RES, WRAP, KEEP, AHT, CLOSED = st[1], st[2], st[3], st[4], st[5], st[6]
  closed_set, op_cache, class_cache, pnext, ecls = nil, {}, {}, {}, nil
  meta_read, bumped, sh = false, false, nil
end

local function k(a, b, c)
  if c ~= nil then return TAG .. ":" .. a .. ":" .. b .. ":" .. c end
  if b ~= nil then return TAG .. ":" .. a .. ":" .. b end
  return TAG .. ":" .. a
end
local function s(x) if x == nil or x == false then return "" end return x end

-- Whether call event `move` may happen to a call in `state` of `kind` (MOVES, rendered
-- from routing/states.py): "do", "done" (it already happened: a retry) or "invalid".
local function may(move, state, kind)
  local m = MOVES[move]
  if m.done[state] then return "done" end
  if m.start[state] and m.kinds[kind] then return "do" end
  return "invalid"
end

local function closed(q)
  if CLOSED == "" then return false end
  if closed_set == nil then
    closed_set = {}
    for name in gmatch(CLOSED, "[^\n]+") do closed_set[name] = true end
  end
  return closed_set[q] == true
end

-- An event: field, value, ... (strings; no table built).
local function emit(kind, ...)
  redis.call("XADD", k("events"), "MAXLEN", "~", KEEP, "*", "type", kind, "at", NOW_S, ...)
end

local function stat(queue, field, n)
  local key = k("stats", DAY, queue)
  redis.call("HINCRBY", key, field, n or "1")
  redis.call("EXPIRE", key, "691200") -- 8 days
end

-- Byte order (as ZSETs order members), for ties between equal scores; Lua's "<" on
-- strings follows the server's locale.
local function bless(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- (score, member) pairs in ZSET order.
local function before(s1, m1, s2, m2)
  if s1 ~= s2 then return s1 < s2 end
  return bless(m1, m2)
end

-- meta: deadlines and versions ---------------------------------------------------------
local function meta_get()
  if meta_read then return end
  meta_read = true
  local r = redis.call("HMGET", k("meta"), "hk", "av", "pv", "ep")
  hk_val, av_val, pv_val, ep_val = tonumber(r[1] or ""), r[2] or "0", r[3] or "0", r[4]
  if not ep_val then
    local t = redis.call("TIME")
    ep_val = t[1] .. "." .. t[2]
    redis.call("HSET", k("meta"), "ep", ep_val)
  end
end

-- The matching data shared across calls for this tag, or nil when it may not be used:
-- after a change in this call (bumped) the call reads everything afresh.
local function shared_for()
  if bumped then return nil end
  meta_get()
  if sh == nil then
    sh = shared[TAG]
    if sh == nil or sh.ep ~= ep_val then
      sh = {ep = ep_val}
      shared[TAG] = sh
    end
    if sh.av ~= av_val then sh.av, sh.lists, sh.defs = av_val, {}, {} end
    if sh.pv ~= pv_val then sh.pv, sh.pn, sh.cb = pv_val, {}, nil end
  end
  return sh
end

-- A change to what shared_for keeps: "av" (active classes, definitions) or "pv" (pnext,
-- ecls).  Every write to those goes through here.
local function bump(field)
  meta_get()
  bumped, sh = true, nil
  redis.call("HINCRBY", k("meta"), field, "1")
end

local function hk_get()
  meta_get()
  return hk_val
end

-- ZADD to one of the deadline sets (at: the time as text, and as a number), keeping hk at
-- or before the earliest deadline.
local function deadline(key, at, member, at_num)
  redis.call("ZADD", key, at, member)
  local v = hk_get()
  if v ~= nil and at_num < v then
    hk_val = at_num
    redis.call("HSET", k("meta"), "hk", at)
  end
end

-- operators -----------------------------------------------------------------------------
-- An operator's configuration (field "cfg" of his hash): skills "skill=level,..." (levels
-- 1-5) TAB languages "ru,en" TAB endpoint TAB name.  Parsed: {skills, langs, lang_list,
-- ep, profile}, for this call only (see the top of this file).
local function parse_op(cfg)
  cfg = cfg or ""
  local p1 = find(cfg, SEP, 1, true) or #cfg + 1
  local p2 = find(cfg, SEP, p1 + 1, true) or #cfg + 1
  local p3 = find(cfg, SEP, p2 + 1, true) or #cfg + 1
  local o = {skills = {}, langs = {}, lang_list = {}, ep = sub(cfg, p2 + 1, p3 - 1),
             sk_text = sub(cfg, 1, p1 - 1), langs_text = sub(cfg, p1 + 1, p2 - 1)}
  for name, lv in gmatch(o.sk_text, "([^,=]+)=([^,]+)") do o.skills[name] = tonumber(lv) or 0 end
  for l in gmatch(o.langs_text, "[^,]+") do
    if not o.langs[l] then o.langs[l] = true; o.lang_list[#o.lang_list + 1] = l end
  end
  -- what classes_for_op reads: languages and skill names (the engine writes skills sorted)
  o.profile = o.langs_text .. SEP .. (gsub(o.sk_text, "=[^,]*", ""))
  return o
end

local function op_info(id)
  local o = op_cache[id]
  if o == nil then
    o = parse_op(redis.call("HGET", k("op", id), "cfg"))
    op_cache[id] = o
  end
  return o
end

-- The idle-index keys an operator is in while available.
local function idle_keys(o)
  if o.ix ~= nil then return o.ix end
  local keys = {}
  for _, l in ipairs(o.lang_list) do
    keys[#keys + 1] = k("ix", l .. "|*")
    for sk, lv in pairs(o.skills) do
      lv = math.min(math.floor(lv), 5)
      if lv >= 1 then keys[#keys + 1] = k("ix", l .. "|" .. sk .. "|" .. lv) end
    end
  end
  o.ix = keys
  return keys
end

local function add_idle(opid, idle_score)
  redis.call("ZADD", k("idle"), idle_score, opid)
  for _, key in ipairs(idle_keys(op_info(opid))) do redis.call("ZADD", key, idle_score, opid) end
end

local function remove_idle(opid)
  redis.call("ZREM", k("idle"), opid)
  for _, key in ipairs(idle_keys(op_info(opid))) do redis.call("ZREM", key, opid) end
end

-- classes -------------------------------------------------------------------------------
-- A class definition (HASH classes): queue TAB language TAB skills CSV TAB ring seconds
-- TAB service-level seconds TAB thresholds, one per operator level 1..5: the wait (s)
-- after which an operator of that level may take the class's entries ("-": never,
-- "a": always, i.e. no widening rules).  Parsed tables are shared: never modified.
local function parse_def(raw)
  local d = def_parse[raw]
  if d ~= nil then return d or nil end
  local p1 = find(raw, SEP, 1, true)
  local p2 = p1 and find(raw, SEP, p1 + 1, true)
  local p3 = p2 and find(raw, SEP, p2 + 1, true)
  local p4 = p3 and find(raw, SEP, p3 + 1, true)
  local p5 = p4 and find(raw, SEP, p4 + 1, true)
  if not p5 then def_parse[raw] = false; return nil end
  d = {q = sub(raw, 1, p1 - 1), l = sub(raw, p1 + 1, p2 - 1), s = {},
       r = tonumber(sub(raw, p3 + 1, p4 - 1)) or 30, sl = tonumber(sub(raw, p4 + 1, p5 - 1)) or 20,
       t = {}, ts = {}}
  for x in gmatch(sub(raw, p2 + 1, p3 - 1), "[^,]+") do d.s[#d.s + 1] = x end
  local lv, seen = 0, {}
  for x in gmatch(sub(raw, p5 + 1), "[^,]+") do
    lv = lv + 1
    if x ~= "-" then
      d.t[lv] = x
      if not seen[x] then seen[x] = true; d.ts[#d.ts + 1] = x end
    end
  end
  def_parse[raw] = d
  parsed = parsed + 1
  return d
end

local function class_def(c)
  local d = class_cache[c]
  if d == nil then
    local x = shared_for()
    if x then d = x.defs[c] end
    if d == nil then
      local raw = redis.call("HGET", k("classes"), c)
      d = raw and parse_def(raw) or false
      x = shared_for()
      if x then x.defs[c] = d end
    end
    class_cache[c] = d
  end
  return d or nil
end

-- Definitions of several classes and their pnext times: from the shared data when its
-- versions hold, else with one HMGET each for those not known yet.
local function load_defs(list)
  local x = shared_for()
  local no_def, no_pn = {}, {}
  for _, c in ipairs(list) do
    if class_cache[c] == nil then
      local d = x and x.defs[c]
      if d ~= nil then class_cache[c] = d else no_def[#no_def + 1] = c end
    end
    if pnext[c] == nil then
      local v = x and x.pn[c]
      if v ~= nil then pnext[c] = v else no_pn[#no_pn + 1] = c end
    end
  end
  if #no_def > 0 then
    local raw = redis.call("HMGET", k("classes"), unpack(no_def))
    for i, c in ipairs(no_def) do
      local d = raw[i] and parse_def(raw[i]) or false
      class_cache[c] = d
      if x then x.defs[c] = d end
    end
  end
  if #no_pn > 0 then
    local due = redis.call("HMGET", k("pnext"), unpack(no_pn))
    for i, c in ipairs(no_pn) do
      local v = tonumber(due[i] or "") or false
      pnext[c] = v
      if x then x.pn[c] = v end
    end
  end
end

local function act_keys(c, d)
  local keys = {k("act", d.l)}
  if #d.s == 0 then keys[2] = k("act", d.l .. "|*") end
  for _, sk in ipairs(d.s) do keys[#keys + 1] = k("act", d.l .. "|" .. sk) end
  return keys
end

local function activate(c, d)
  if redis.call("SADD", k("active"), c) == 1 then
    for _, key in ipairs(act_keys(c, d)) do redis.call("SADD", key, c) end
    bump("av")
  end
end

local function deactivate(c, d)
  redis.call("SREM", k("active"), c)
  for _, key in ipairs(act_keys(c, d)) do redis.call("SREM", key, c) end
  bump("av")
end

-- An operator's level for a class: the lowest proficiency over its skills, 0 if unfit.
local function level(o, d)
  if not o.langs[d.l] then return 0 end
  local lv = 5
  for _, sk in ipairs(d.s) do
    local p = o.skills[sk] or 0
    if p < lv then lv = p end
  end
  return math.floor(lv)
end

-- The lowest level that may take an entry of class d after waiting `wait` s (6: none yet).
local function required(d, wait)
  for lv = 1, 5 do
    local t = d.t[lv]
    if t == "a" or (t ~= nil and wait >= tonumber(t)) then return lv end
  end
  return 6
end

-- eligibility sets -----------------------------------------------------------------------
local function fam(kind) if kind == "callback" then return "ec" end return "el" end

-- Does class c have callbacks in its matching sets?  (ecls: shared, or one SMEMBERS.)
local function has_callbacks(c)
  if ecls == nil then
    ecls = {}
    local x = shared_for()
    if x and x.cb then
      for name, _ in pairs(x.cb) do ecls[name] = true end
    else
      local cb = {}
      for _, name in ipairs(redis.call("SMEMBERS", k("ecls"))) do ecls[name] = true; cb[name] = true end
      x = shared_for()
      if x then x.cb = cb end
    end
  end
  return ecls[c] == true
end

local function add_eligible(f, c, t, score, cid)
  redis.call("ZADD", k(f, c, t), score, cid)
  if f == "ec" and not has_callbacks(c) then
    redis.call("SADD", k("ecls"), c)
    ecls[c] = true
    bump("pv")
  end
end

-- The time before which nothing of pend:<c>:* is due (false: nothing pending).
local function pnext_of(c)
  local v = pnext[c]
  if v == nil then
    local x = shared_for()
    if x then v = x.pn[c] end
    if v == nil then
      v = tonumber(redis.call("HGET", k("pnext"), c) or "") or false
      x = shared_for()
      if x then x.pn[c] = v end
    end
    pnext[c] = v
  end
  return v
end

local function set_pnext(c, v)
  pnext[c] = v
  if v then
    redis.call("HSET", k("pnext"), c, tostring(v))
  else
    redis.call("HDEL", k("pnext"), c)
  end
  bump("pv")
end

-- Put a waiting entry into the matching sets: el/ec:<T> when it has waited T s, else pend:<T>.
local function index_entry(cid, c, d, score, enq, kind)
  local f, e = fam(kind), tonumber(enq)
  local wait = NOW - e
  for _, t in ipairs(d.ts) do
    if t == "a" or wait >= tonumber(t) then
      add_eligible(f, c, t, score, cid)
    else
      redis.call("ZADD", k("pend", c, t), enq, cid)
      local due = e + tonumber(t)
      local v = pnext_of(c)
      if v == false or due < v then set_pnext(c, due) end
    end
  end
end

local function unindex_entry(cid, c, d, kind)
  local f = fam(kind)
  for _, t in ipairs(d.ts) do
    redis.call("ZREM", k(f, c, t), cid)
    if t ~= "a" then redis.call("ZREM", k("pend", c, t), cid) end
  end
  if f == "ec" then
    for _, t in ipairs(d.ts) do
      if redis.call("EXISTS", k("ec", c, t)) == 1 then return end
    end
    redis.call("SREM", k("ecls"), c)
    if ecls ~= nil then ecls[c] = nil end
    bump("pv")
  end
end

-- When pnext says so: move the entries of class c that have now waited T s from pend:<T>
-- to el/ec:<T> (every T), then set pnext to the earliest entry still pending.
local function promote(c, d)
  local v = pnext_of(c)
  if v == false or NOW < v then return end
  local next_at = nil
  for _, t in ipairs(d.ts) do
    if t ~= "a" then
      local key, cutoff = k("pend", c, t), tostring(NOW - tonumber(t))
      local ids = redis.call("ZRANGEBYSCORE", key, "-inf", cutoff)
      if #ids > 0 then
        for _, cid in ipairs(ids) do
          local r = redis.call("HMGET", k("call", cid), "score", "kind")
          if r[1] then add_eligible(fam(r[2]), c, t, r[1], cid) end
        end
        redis.call("ZREMRANGEBYSCORE", key, "-inf", cutoff)
      end
      local head = redis.call("ZRANGE", key, "0", "0", "WITHSCORES")
      if #head > 0 then
        local due = tonumber(head[2]) + tonumber(t)
        if next_at == nil or due < next_at then next_at = due end
      end
    end
  end
  set_pnext(c, next_at or false)
end

-- The first entry of class c an operator of level lv may take now: cid, score (or nil).
local function head_for_level(c, d, lv)
  local t = d.t[lv]
  if t == nil then return nil end
  promote(c, d)
  local best, best_score = nil, nil
  local r = redis.call("ZRANGE", k("el", c, t), "0", "0", "WITHSCORES")
  if #r > 0 then best, best_score = r[1], tonumber(r[2]) end
  if has_callbacks(c) and not closed(d.q) then
    r = redis.call("ZRANGE", k("ec", c, t), "0", "0", "WITHSCORES")
    if #r > 0 then
      local sc = tonumber(r[2])
      if best == nil or before(sc, r[1], best_score, best) then best, best_score = r[1], sc end
    end
  end
  return best, best_score
end

-- The classes an operator might serve: active, in one of its languages, sharing a skill.
local function classes_for_op(o)
  if #o.lang_list == 0 then return {} end
  local x = shared_for()
  local list = x and x.lists[o.profile]
  if list == nil then
    local keys = {}
    for _, l in ipairs(o.lang_list) do
      keys[#keys + 1] = k("act", l .. "|*")
      for sk, _ in pairs(o.skills) do keys[#keys + 1] = k("act", l .. "|" .. sk) end
    end
    list = redis.call("SUNION", unpack(keys))
    x = shared_for()
    if x then x.lists[o.profile] = list end
  end
  load_defs(list)
  return list
end

-- The best entry (lowest place score) that operator `opid` may take now.
local function best_for_op(opid)
  local o = op_info(opid)
  local best, best_score, best_class = nil, nil, nil
  for _, c in ipairs(classes_for_op(o)) do
    local d = class_cache[c]
    local lv = d and level(o, d) or 0
    if lv > 0 then
      local cid, sc = head_for_level(c, d, lv)
      if cid and (best == nil or before(sc, cid, best_score, best)) then
        best, best_score, best_class = cid, sc, c
      end
    end
  end
  return best, best_class
end

-- Walk the union of ZSETs `keys` in (score, member) order; the first member that `ok`
-- accepts, and its score.  The first page is one entry per key (the usual answer).
local function first_in_union(keys, ok)
  local page, off, pos = {}, {}, {}
  local function fill(i, n)
    page[i] = redis.call("ZRANGE", keys[i], off[i], off[i] + n - 1, "WITHSCORES")
    off[i], pos[i] = off[i] + n, 1
  end
  for i = 1, #keys do off[i] = 0; fill(i, 1) end
  while true do
    local bi, bs, bm = nil, nil, nil
    for i = 1, #keys do
      if pos[i] > #page[i] and #page[i] > 0 then fill(i, 16) end
      if pos[i] <= #page[i] then
        local m, sc = page[i][pos[i]], tonumber(page[i][pos[i] + 1])
        if bi == nil or before(sc, m, bs, bm) then bi, bs, bm = i, sc, m end
      end
    end
    if bi == nil then return nil end
    pos[bi] = pos[bi] + 2
    if ok == nil or ok(bm) then return bm, bs end
  end
end

-- The longest-idle operator of level >= lv for class c (and its idle score).
local function idle_op_for(c, d, lv)
  if lv > 5 then return nil end
  if #d.s == 0 then return first_in_union({k("ix", d.l .. "|*")}, nil) end
  local keys = {}
  for p = lv, 5 do keys[#keys + 1] = k("ix", d.l .. "|" .. d.s[1] .. "|" .. p) end
  local ok = nil
  if #d.s > 1 then ok = function(opid) return level(op_info(opid), d) >= lv end end
  return first_in_union(keys, ok)
end

-- What an entry needs now: the lowest level; nil when it may not be served now.
local function requirement(cid, d)
  local r = redis.call("HMGET", k("call", cid), "enq", "nb", "kind")
  if not r[1] then return nil end
  if r[3] == "callback" then
    if closed(d.q) then return nil end
    if r[2] and r[2] ~= "" and tonumber(r[2]) > NOW then return nil end
  end
  return required(d, NOW - tonumber(r[1]))
end

-- The longest-idle operator that may take entry `cid` of class `c` now.
local function op_for_call(cid, c)
  local d = class_def(c)
  if not d then return nil end
  local req = requirement(cid, d)
  if req == nil then return nil end
  return (idle_op_for(c, d, req))
end

local function make_available(opid, idle_score)
  redis.call("HSET", k("op", opid), "state", "available", "since", NOW_S, "call", "")
  add_idle(opid, idle_score)
end

-- Staffed operators by skill and language (expected waits): `n` "1" when operator `o`
-- starts to count, "-1" when he stops.
local function staff(o, n)
  for _, l in ipairs(o.lang_list) do
    redis.call("HINCRBY", k("staff"), "*|" .. l, n)
    for skill, _ in pairs(o.skills) do redis.call("HINCRBY", k("staff"), skill .. "|" .. l, n) end
  end
end

-- The state operator `opid` asked for during his call ("after" on his record, written by
-- after_call.lua; routing/states.py AFTER_CALL), taken now that the call's wrap-up ends,
-- or the reservation does without a conversation (`from`), instead of available.  False
-- when he asked for nothing.
local function after_call(opid, from)
  local okey = k("op", opid)
  local want = redis.call("HGET", okey, "after")
  if not want then return false end
  redis.call("HDEL", okey, "after")
  if not STAFFED[want] then staff(op_info(opid), "-1") end
  redis.call("HSET", okey, "state", want, "since", NOW_S, "call", "")
  emit("operator_state", "operator", opid, "state", want, "from", from)
  return true
end

-- Into the line (ZSETs by place and by enqueue time) and the matching sets.
local function join_line(cid, c, d, q, score, enq, kind, nb)
  redis.call("ZADD", k("wait", c), score, cid)
  activate(c, d)
  redis.call("ZADD", k("qwait", q), enq, cid)
  local retry_at = kind == "callback" and nb and nb ~= "" and tonumber(nb)
  if retry_at and retry_at > NOW then
    deadline(k("cblater"), nb, cid, retry_at)
  else
    index_entry(cid, c, d, score, enq, kind)
  end
end

local function leave_line(cid, c, q, kind)
  local d = class_def(c)
  redis.call("ZREM", k("wait", c), cid)
  redis.call("ZREM", k("qwait", q), cid)
  if d then
    unindex_entry(cid, c, d, kind)
    if redis.call("EXISTS", k("wait", c)) == 0 then deactivate(c, d) end
  end
  if kind == "callback" then redis.call("ZREM", k("cblater"), cid) end
end

-- An assignment as returned to Python (see routing/engine.py _assignment).
local function assignment_of(cid)
  local r = redis.call("HMGET", k("call", cid), "op", "endpoint", "kind", "reserved_at", "ctx", "number", "queue")
  return {cid, s(r[1]), s(r[2]), s(r[3]), s(r[4]), s(r[5]), s(r[6]), s(r[7])}
end

-- Reserve operator `opid` for entry `cid` of class `c`.  `idle_score`: the operator is not
-- in the idle order (just freed) and was idle since then; nil: take him out of it.
-- `from`: the state he leaves when he was not yet available (the console made him
-- available, a call ended without wrap-up); the "assigned" event then carries it, as the
-- one event of the change (no "operator_state" event for an instant he was never seen in).
local function reserve(opid, cid, c, idle_score, from)
  local ckey, okey = k("call", cid), k("op", opid)
  local r = redis.call("HMGET", ckey, "queue", "kind", "ctx", "number")
  local q, kind = r[1], r[2]
  local d = class_def(c)
  if idle_score == nil then
    idle_score = redis.call("ZSCORE", k("idle"), opid) or NOW_S
    remove_idle(opid)
  end
  leave_line(cid, c, q, kind)
  local ttl = RES
  if kind == "callback" then ttl = ttl + (d and d.r or 30) end
  local endpoint = op_info(opid).ep
  redis.call("HSET", ckey, "state", "reserved", "op", opid, "reserved_at", NOW_S, "endpoint", endpoint)
  redis.call("HSET", okey, "state", "reserved", "since", NOW_S, "call", cid, "idle_score", idle_score)
  local due = NOW + ttl
  deadline(k("reserved"), tostring(due), cid, due)
  if kind == "callback" then redis.call("RPUSH", k("cbdue"), cid) end
  if from then
    emit("assigned", "call", cid, "queue", s(q), "operator", opid, "kind", s(kind), "from", from)
  else
    emit("assigned", "call", cid, "queue", s(q), "operator", opid, "kind", s(kind))
  end
  return {cid, opid, endpoint, kind, NOW_S, s(r[3]), s(r[4]), q}
end

-- Give an idle operator the best entry, if any; returns a list of 0 or 1 assignments.
local function match_operator(opid)
  local cid, c = best_for_op(opid)
  if cid then return {reserve(opid, cid, c)} end
  return {}
end

-- An operator just freed (idle since `idle_score`): reserved at once for the best entry,
-- else available in the idle order.  `from`: the state he leaves, when he was not
-- reserved (one event either way: "assigned" with it, or "operator_state" to available).
-- Returns a list of 0 or 1 assignments.
local function offer_operator(opid, idle_score, from)
  local cid, c = best_for_op(opid)
  if cid then return {reserve(opid, cid, c, idle_score, from)} end
  make_available(opid, idle_score)
  if from then emit("operator_state", "operator", opid, "state", "available", "from", from) end
  return {}
end

-- Idle operators in idle order, each to its best entry, up to `limit`: the same result as
-- walking the idle list, found from the classes' side.  For each active class: the lowest
-- operator level that has something to take, and the longest-idle operator of that level
-- or above; the earliest of those takes its best entry; repeat.
local function match_all(limit)
  local out = {}
  if redis.call("SCARD", k("active")) == 0 or redis.call("ZCARD", k("idle")) == 0 then return out end
  local list = redis.call("SMEMBERS", k("active"))
  load_defs(list)
  local cand = {}
  local function candidate(c)
    cand[c] = nil
    local d = class_cache[c]
    if not d then return end
    local empty = {}
    for lv = 1, 5 do
      local t = d.t[lv]
      if t ~= nil and not empty[t] then
        if head_for_level(c, d, lv) then
          local opid, sc = idle_op_for(c, d, lv)
          if opid then cand[c] = {opid, sc} end
          return
        end
        empty[t] = true
      end
    end
  end
  for _, c in ipairs(list) do candidate(c) end
  while #out < limit do
    local pick = nil
    for _, x in pairs(cand) do
      if pick == nil or before(x[2], x[1], pick[2], pick[1]) then pick = x end
    end
    if pick == nil then break end
    local opid = pick[1]
    local cid, c = best_for_op(opid)
    if not cid then break end -- cannot happen: the candidate may take something
    out[#out + 1] = reserve(opid, cid, c)
    local redo = {[c] = true}
    for c2, x in pairs(cand) do
      if x[1] == opid then redo[c2] = true end
    end
    for c2, _ in pairs(redo) do candidate(c2) end
  end
  return out
end

-- Back to its place in line: same class, same score.
local function put_back(cid)
  local ckey = k("call", cid)
  local r = redis.call("HMGET", ckey, "class", "score", "queue", "enq", "kind", "nb")
  local d = class_def(r[1])
  if d then join_line(cid, r[1], d, r[3], r[2], r[4], r[5], r[6]) end
  local st = "waiting"
  if r[5] == "callback" then st = "callback" end
  redis.call("HSET", ckey, "state", st, "op", "", "endpoint", "", "reserved_at", "", "dialing", "")
end

-- End a reservation.  The operator, if still reserved for it, is free again at his old
-- place in the idle order: available now, or with `hold`, returned with that place for
-- offer_operator; or, when he asked for another state meanwhile, in that one.  Returns opid (or nil), and the place when held.
local function unreserve(cid, hold)
  local opid = redis.call("HGET", k("call", cid), "op")
  redis.call("ZREM", k("reserved"), cid)
  redis.call("LREM", k("cbdue"), "0", cid)
  if opid and opid ~= "" then
    local r = redis.call("HMGET", k("op", opid), "state", "call", "idle_score")
    if r[1] == "reserved" and r[2] == cid then
      if after_call(opid, "reserved") then return opid, nil end
      if hold then return opid, r[3] or NOW_S end
      make_available(opid, r[3] or NOW_S)
    end
    return opid, nil
  end
  return nil, nil
end

-- Expired reservations, ended wrap-ups, callbacks whose retry time came; skipped with
-- one GET while nothing is due (hk).
local function housekeeping()
  local v = hk_get()
  if v ~= nil and NOW < v then return end
  for _, cid in ipairs(redis.call("ZRANGEBYSCORE", k("reserved"), "-inf", NOW_S, "LIMIT", "0", "100")) do
    local opid = unreserve(cid)
    put_back(cid)
    emit("reservation_expired", "call", cid, "operator", s(opid))
  end
  local wr = redis.call("ZRANGEBYSCORE", k("wrapup"), "-inf", NOW_S, "WITHSCORES", "LIMIT", "0", "100")
  for i = 1, #wr, 2 do
    local opid = wr[i]
    redis.call("ZREM", k("wrapup"), opid)
    if redis.call("HGET", k("op", opid), "state") == "wrap_up" and not after_call(opid, "wrap_up") then
      make_available(opid, wr[i + 1])
      emit("operator_state", "operator", opid, "state", "available", "from", "wrap_up")
    end
  end
  for _, cid in ipairs(redis.call("ZRANGEBYSCORE", k("cblater"), "-inf", NOW_S, "LIMIT", "0", "100")) do
    redis.call("ZREM", k("cblater"), cid)
    local r = redis.call("HMGET", k("call", cid), "class", "score", "enq", "state")
    local d = r[1] and class_def(r[1])
    if d and r[4] == "callback" then index_entry(cid, r[1], d, r[2], r[3], "callback") end
  end
  -- The earliest deadline left (all three sets; "1e300": none).
  local next_at = nil
  for _, name in ipairs({"reserved", "wrapup", "cblater"}) do
    local r = redis.call("ZRANGE", k(name), "0", "0", "WITHSCORES")
    if #r > 0 and (next_at == nil or tonumber(r[2]) < tonumber(next_at)) then next_at = r[2] end
  end
  next_at = next_at or "1e300"
  hk_val = tonumber(next_at)
  redis.call("HSET", k("meta"), "hk", next_at)
end

-- Mint appeal `number` for a call that is just starting: the record exists from the
-- moment the number does ("accepted", no topic yet, identity "" = not opened yet).
-- False when the number is taken.
local function mint_appeal(number, entry)
  local key = k("appeal", number)
  if redis.call("EXISTS", key) == 1 then return false end
  redis.call("HSET", key, "number", number, "topic", "", "status", "accepted",
    "opened_at", NOW_S, "updated_at", NOW_S, "identity", "")
  redis.call("RPUSH", k("appeal", number, "log"), entry)
  return true
end

-- Open appeal `number` (topic, identity keys as a JSON list, first log entry as JSON):
-- a new one, or one minted and not opened yet; false when it was opened before.
local function open_appeal(number, topic, idents, entry)
  local key = k("appeal", number)
  local minted = redis.call("HGET", key, "identity")
  if minted and minted ~= "" then return false end
  redis.call("HSET", key, "number", number, "topic", topic, "status", "accepted",
    "opened_at", NOW_S, "updated_at", NOW_S, "identity", idents)
  for _, ident in ipairs(cjson.decode(idents)) do
    redis.call("ZADD", k("appeals", ident), NOW_S, number)
  end
  if not minted then redis.call("RPUSH", k("appeal", number, "log"), entry) end
  return true
end

-- Calls waiting longer than their queue's maximum leave for the overflow target.
-- rules: {{queue, max wait s, target}, ...}
local function overflow(rules)
  for _, o in ipairs(rules) do
    local q, cutoff, target = o[1], NOW - o[2], o[3]
    for _, cid in ipairs(redis.call("ZRANGEBYSCORE", k("qwait", q), "-inf", tostring(cutoff), "LIMIT", "0", "1000")) do
      local ckey = k("call", cid)
      local r = redis.call("HMGET", ckey, "kind", "class")
      if r[1] == "call" then
        leave_line(cid, r[2], q, "call")
        redis.call("HSET", ckey, "state", "overflowed", "overflow_to", target)
        stat(q, "overflowed")
        emit("overflowed", "call", cid, "queue", q, "to", target)
      end
    end
  end
end

-- Position (1-based) among entries of the same language that need any of the same
-- skills, and the expected wait: position * handle time / staffed operators.
local function placement(cid)
  local r = redis.call("HMGET", k("call", cid), "class", "score")
  local d = class_def(r[1])
  local list
  if #d.s == 0 then
    list = redis.call("SMEMBERS", k("act", d.l))
  else
    local keys = {k("act", d.l .. "|*")}
    for _, sk in ipairs(d.s) do keys[#keys + 1] = k("act", d.l .. "|" .. sk) end
    list = redis.call("SUNION", unpack(keys))
  end
  local ahead = 0
  local below = "(" .. r[2]
  for _, c2 in ipairs(list) do
    if c2 == r[1] then
      ahead = ahead + (redis.call("ZRANK", k("wait", c2), cid) or 0)
    else
      ahead = ahead + redis.call("ZCOUNT", k("wait", c2), "-inf", below)
    end
  end
  local staffed, aht = nil, 0
  if #d.s == 0 then
    staffed = tonumber(redis.call("HGET", k("staff"), "*|" .. d.l) or "0")
  else
    local fields = {}
    for i, sk in ipairs(d.s) do fields[i] = sk .. "|" .. d.l end
    local st = redis.call("HMGET", k("staff"), unpack(fields))
    local h = redis.call("HMGET", k("aht"), unpack(d.s))
    for i = 1, #d.s do
      local n = tonumber(st[i] or "0")
      if staffed == nil or n < staffed then staffed = n end
      local x = tonumber(h[i] or AHT)
      if x > aht then aht = x end
    end
  end
  if aht == 0 then aht = AHT end
  local pos = ahead + 1
  -- Nobody on duty who could take the call: no estimate ("" = unknown), not a made-up one.
  if (staffed or 0) == 0 then return {tostring(pos), ""} end
  return {tostring(pos), tostring(pos * aht / staffed)}
end

-- The operator's leg (or the citizen, for a callback) answered.
local function connect_call(cid)
  local ckey = k("call", cid)
  local r = redis.call("HMGET", ckey, "op", "queue", "enq", "kind", "number", "class")
  redis.call("ZREM", k("reserved"), cid)
  if r[4] == "callback" then redis.call("LREM", k("cbdue"), "0", cid) end
  redis.call("HSET", ckey, "state", "connected", "answered_at", NOW_S)
  redis.call("HSET", k("op", r[1]), "state", "on_call", "since", NOW_S, "misses", "0")
  local wait = NOW - tonumber(r[3])
  if r[4] == "callback" then
    stat(r[2], "callbacks_answered")
    redis.call("HDEL", k("cbnum"), r[5])
    redis.call("ZREM", k("qcb", r[2]), cid)
  else
    local d = class_def(r[6])
    stat(r[2], "answered")
    if wait <= (d and d.sl or 20) then stat(r[2], "answered_within") end
  end
  emit("answered", "call", cid, "queue", s(r[2]), "operator", s(r[1]), "kind", s(r[4]), "wait", tostring(wait))
end

-- transfers (scripts transfer, transfer_failed, consult) ------------------------------
-- The operator who had the conversation leaves it (it ended, or he passed it on):
-- wrap-up, or the state he asked for after the call, or (no wrap-up) the next entry.
-- "last" keeps the call he left, so a transfer the telephony refused can give it back.
-- Returns a list of 0 or 1 assignments (his next call).
local function leave_conversation(opid, cid)
  local okey = k("op", opid)
  local o = redis.call("HMGET", okey, "state", "call")
  if o[1] ~= "on_call" or o[2] ~= cid then return {} end
  redis.call("HSET", okey, "last", cid)
  if WRAP > 0 then
    redis.call("HSET", okey, "state", "wrap_up", "since", NOW_S, "call", "")
    deadline(k("wrapup"), tostring(NOW + WRAP), opid, NOW + WRAP)
    emit("operator_state", "operator", opid, "state", "wrap_up", "from", "on_call")
    return {}
  end
  if after_call(opid, "on_call") then return {} end
  return offer_operator(opid, NOW_S, "on_call")
end

-- Append one transfer record (JSON object text) to the call's list (field xfers, a JSON
-- array), and a line to its appeal's log with the appeal's status unchanged.
local function record_transfer(ckey, rec, appeal, entry)
  local old = redis.call("HGET", ckey, "xfers")
  if old and #old > 2 then
    redis.call("HSET", ckey, "xfers", sub(old, 1, #old - 1) .. "," .. rec .. "]")
  else
    redis.call("HSET", ckey, "xfers", "[" .. rec .. "]")
  end
  if appeal ~= "" and entry ~= "" then
    local status = redis.call("HGET", k("appeal", appeal), "status")
    if status then
      redis.call("RPUSH", k("appeal", appeal, "log"),
        sub(entry, 1, #entry - 1) .. ',"status":' .. cjson.encode(status) .. "}")
    end
  end
end

-- Why operator `opid` cannot take a call passed to him by `by` now, or nil.
local function not_takeable(opid, by)
  if opid == by then return "same_operator" end
  -- (the engine knows its operators; one who never came on duty has no record yet)
  if redis.call("HGET", k("op", opid), "state") ~= "available" then return "operator_not_ready" end
  return nil
end

-- The operator reserved for a consultation about call `cid` is released: the state he
-- asked for meanwhile, else the next entry or available at his old idle place.
-- Returns {opid or nil, assignments}.
local function release_consult(cid)
  local ckey = k("call", cid)
  local opid = redis.call("HGET", ckey, "consult")
  if not opid or opid == "" then return nil, {} end
  redis.call("HSET", ckey, "consult", "")
  local okey = k("op", opid)
  local o = redis.call("HMGET", okey, "state", "call", "idle_score")
  if o[1] ~= "reserved" or o[2] ~= cid then return opid, {} end
  redis.call("HDEL", okey, "consult")
  if after_call(opid, "reserved") then return opid, {} end
  return opid, offer_operator(opid, o[3] or NOW_S, "reserved")
end
