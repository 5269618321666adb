-- POST /api/v1/purchases/: a store sale for a member picked at random from BENCH_MEMBERS
-- (lines "id<TAB>qr token<TAB>..."), with a receipt id unique per run, thread and request.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local key = os.getenv("BENCH_API_KEY")
local amounts = {"79.00", "129.00", "249.00", "399.00", "890.00"}
local members = dofile(os.getenv("BENCH_LUA_DIR") .. "/members.lua")
local counter = 0

function request()
  counter = counter + 1
  local body = string.format(
    '{"member":"CARAT1:%s","store":"antwerp","receipt_id":"W%s-%d-%d","amount":"%s","currency":"EUR"}',
    members.tokens[math.random(#members.tokens)], run, tid, counter, amounts[math.random(#amounts)])
  return wrk.format("POST", "/api/v1/purchases/",
    {["Content-Type"] = "application/json", ["Authorization"] = "Api-Key " .. key}, body)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
