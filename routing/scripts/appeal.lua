-- appeal: open an appeal or change its status, atomically with its indexes and log.
-- ARGV[4] "open" | "status", ARGV[5] number, then
--   open:   topic, identity keys JSON, log entry JSON
--   status: status, log entry JSON
-- Returns {"ok"} | {"exists"} | {"unknown"}
local key = k("appeal", ARGV[5])
if ARGV[4] == "open" then
  if redis.call("EXISTS", key) == 1 then return {"exists"} end
  redis.call("HSET", key, "number", ARGV[5], "topic", ARGV[6], "status", "accepted",
    "opened_at", NOW_S, "updated_at", NOW_S, "identity", ARGV[7])
  for _, ident in ipairs(cjson.decode(ARGV[7])) do
    redis.call("ZADD", k("appeals", ident), NOW_S, ARGV[5])
  end
  redis.call("RPUSH", k("appeal", ARGV[5], "log"), ARGV[8])
  return {"ok"}
end
if redis.call("EXISTS", key) == 0 then return {"unknown"} end
redis.call("HSET", key, "status", ARGV[6], "updated_at", NOW_S)
redis.call("RPUSH", k("appeal", ARGV[5], "log"), ARGV[7])
return {"ok"}
