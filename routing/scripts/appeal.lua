-- appeal: open an appeal or change its status, atomically with its indexes and log.
-- ARGV[A+1] "open" | "status", ARGV[A+2] number, then
--   open:   topic, identity keys JSON, log entry JSON
--   status: status, log entry JSON
-- Returns {"ok"} | {"exists"} | {"unknown"}
local number = ARGV[A + 2]
local key = k("appeal", number)
if ARGV[A + 1] == "open" then
  if open_appeal(number, ARGV[A + 3], ARGV[A + 4], ARGV[A + 5]) then return {"ok"} end
  return {"exists"}
end
if redis.call("EXISTS", key) == 0 then return {"unknown"} end
redis.call("HSET", key, "status", ARGV[A + 3], "updated_at", NOW_S)
redis.call("RPUSH", k("appeal", number, "log"), ARGV[A + 4])
return {"ok"}
