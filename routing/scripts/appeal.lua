-- appeal: mint an appeal, open it, settle it or change its status, atomically with its
-- indexes and log.
-- ARGV[A+1] "mint" | "open" | "settle" | "status", ARGV[A+2] number, then
--   mint:   first log entry JSON
--   open:   topic, identity keys JSON, log entry JSON
--   settle: topic, identity keys JSON
--   status: status, log entry JSON
-- Returns {"ok"} | {"exists"} | {"unknown"}
-- A mint resent after a lost reply finds its number taken and the book draws another:
-- the first stays minted and unopened, said to nobody (the one non-idempotent case).
local number = ARGV[A + 2]
local key = k("appeal", number)
local op = ARGV[A + 1]
if op == "mint" then
  if mint_appeal(number, ARGV[A + 3]) then return {"ok"} end
  return {"exists"}
end
if op == "open" then
  if open_appeal(number, ARGV[A + 3], ARGV[A + 4], ARGV[A + 5]) then return {"ok"} end
  return {"exists"}
end
if redis.call("EXISTS", key) == 0 then return {"unknown"} end
if op == "settle" then
  -- A call that ended without joining a queue: its minted appeal takes the call's topic
  -- and identity (for the status question), not the repeat-caller index.
  if redis.call("HGET", key, "identity") == "" then
    redis.call("HSET", key, "topic", ARGV[A + 3], "identity", ARGV[A + 4])
  end
  return {"ok"}
end
redis.call("HSET", key, "status", ARGV[A + 3], "updated_at", NOW_S)
redis.call("RPUSH", k("appeal", number, "log"), ARGV[A + 4])
return {"ok"}
