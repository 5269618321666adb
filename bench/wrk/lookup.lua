-- GET /api/v1/members/lookup/?code=CARAT1:<token> for members picked at random.
local key = os.getenv("BENCH_API_KEY")
local members = dofile(os.getenv("BENCH_LUA_DIR") .. "/members.lua")

function request()
  local tokens = members.tokens
  return wrk.format("GET", "/api/v1/members/lookup/?code=CARAT1:" .. tokens[math.random(#tokens)],
    {["Authorization"] = "Api-Key " .. key}, nil)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
