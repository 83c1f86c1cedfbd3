-- enqueue: place a call in line, then try to give it to the longest-idle fit operator.
-- ARGV[4..] id, queue, language, class, class JSON, score, enqueued_at, priority,
--           repeat (0/1), caller, channel, context JSON, skills CSV
-- Returns {"exists", state} | {"assigned", assignment} | {"waiting", position, wait}
housekeeping()
local id, q, c = ARGV[4], ARGV[5], ARGV[7]
local ckey = k("call", id)
local st = redis.call("HGET", ckey, "state")
if st and st ~= "overflowed" then return {"exists", st} end
redis.call("HSET", k("classes"), c, ARGV[8])
redis.call("DEL", ckey)
redis.call("HSET", ckey, "id", id, "queue", q, "lang", ARGV[6], "class", c, "score", ARGV[9],
  "enq", ARGV[10], "prio", ARGV[11], "repeat", ARGV[12], "caller", ARGV[13], "channel", ARGV[14],
  "ctx", ARGV[15], "skills", ARGV[16], "kind", "call", "state", "waiting")
redis.call("ZADD", k("wait", c), ARGV[9], id)
redis.call("SADD", k("active"), c)
redis.call("ZADD", k("qwait", q), ARGV[10], id)
stat(q, "enqueued")
emit("enqueued", {"call", id, "queue", q, "priority", ARGV[11], "repeat", ARGV[12], "language", ARGV[6]})
local opid = op_for_call(id, c)
if opid then return {"assigned", reserve(opid, id, c)} end
local p = placement(id)
return {"waiting", p[1], p[2]}
