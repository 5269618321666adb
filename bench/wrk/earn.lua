-- POST /api/v1/purchases/: a store sale for a member picked at random from BENCH_MEMBERS
-- (lines "id<TAB>qr token<TAB>..."), with a receipt id unique per run, thread and request.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local key = os.getenv("BENCH_API_KEY")
local file = os.getenv("BENCH_MEMBERS")
local amounts = {"79.00", "129.00", "249.00", "399.00", "890.00"}
local members = {}
local counter = 0
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
  counter = counter + 1
  local body = string.format(
    '{"member":"CARAT1:%s","store":"antwerp","receipt_id":"W%s-%d-%d","amount":"%s","currency":"EUR"}',
    members[math.random(#members)], run, tid, counter, amounts[math.random(#amounts)])
  return wrk.format("POST", "/api/v1/purchases/",
    {["Content-Type"] = "application/json", ["Authorization"] = "Api-Key " .. key}, body)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
