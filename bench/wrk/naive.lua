-- POST /api/v1/naive-earn/: the naive reference view (bench/naive/views.py) for a member
-- picked at random from BENCH_MEMBERS (lines "id<TAB>qr token<TAB>...").
local amounts = {79, 129, 249, 399, 890}
local file = os.getenv("BENCH_MEMBERS")
local ids = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  for line in io.lines(file) do
    ids[#ids + 1] = line:match("^(%d+)\t")
  end
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local body = string.format('{"member_id":%s,"carats":%d}',
    ids[math.random(#ids)], amounts[math.random(#amounts)])
  return wrk.format("POST", "/api/v1/naive-earn/", {["Content-Type"] = "application/json"}, body)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
