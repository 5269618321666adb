-- GET /api/v1/members/lookup/?code=CARAT1:<token> for members picked at random.
local key = os.getenv("BENCH_API_KEY")
local file = os.getenv("BENCH_MEMBERS")
local members = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  for line in io.lines(file) do
    local token = line:match("^%d+\t([^\t]+)")
    members[#members + 1] = token
  end
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  return wrk.format("GET", "/api/v1/members/lookup/?code=CARAT1:" .. members[math.random(#members)],
    {["Authorization"] = "Api-Key " .. key}, nil)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
