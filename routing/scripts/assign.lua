-- assign: expire reservations and wrap-ups, overflow, then match idle operators in
-- idle order to their best entry.  ARGV[4] limit.  Returns a list of assignments.
housekeeping()
overflow()
return match_all(tonumber(ARGV[4]))
