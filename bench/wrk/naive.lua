-- POST /api/v1/naive-earn/: the naive reference view (bench/naive/views.py) for a member
-- picked at random from BENCH_MEMBERS.
local amounts = {79, 129, 249, 399, 890}
local members = dofile(os.getenv("BENCH_LUA_DIR") .. "/members.lua")

function request()
  local ids = members.ids
  local body = string.format('{"member_id":%s,"carats":%d}',
    ids[math.random(#ids)], amounts[math.random(#amounts)])
  return wrk.format("POST", "/api/v1/naive-earn/", {["Content-Type"] = "application/json"}, body)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
