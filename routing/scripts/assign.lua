-- assign: expire reservations and wrap-ups, overflow, then match idle operators in
-- idle order to their best entry.  ARGV[A+1] limit, ARGV[A+2] overflow rules JSON
-- ([[queue, max wait s, target], ...]).  Returns a list of assignments.
housekeeping()
overflow(cjson.decode(ARGV[A + 2]))
return match_all(tonumber(ARGV[A + 1]))
