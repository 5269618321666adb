-- Shared by the wrk scripts (dofile'd, as report.lua): numbers the threads (setup) and,
-- in each thread, reads BENCH_MEMBERS (lines "id<TAB>qr token<TAB>...") and seeds the
-- thread's random numbers (init). Returns the member ids and QR tokens, filled by init.
local members = {ids = {}, tokens = {}}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_MEMBERS")) do
    local id, token = line:match("^(%d+)\t([^\t]+)")
    members.ids[#members.ids + 1] = id
    members.tokens[#members.tokens + 1] = token
  end
  math.randomseed(os.time() * 1000 + tid)
end

return members
