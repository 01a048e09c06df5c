-- wrk script: POST /v1/orders with 3 distinct random SKUs, each committing 1 unit.
local skus = tonumber(os.getenv("BENCH_SKUS") or "1000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 30))
end

function init(args)
  math.randomseed(seed or os.time())
end

local template = '{"channel":"web","customer_id":"C-%d","currency":"GBP","lines":['
  .. '{"sku":"S%d","quantity":1,"unit_price":"2.50"},'
  .. '{"sku":"S%d","quantity":1,"unit_price":"3.10"},'
  .. '{"sku":"S%d","quantity":1,"unit_price":"1.25"}]}'

function request()
  local a = math.random(skus)
  local b, c
  repeat b = math.random(skus) until b ~= a
  repeat c = math.random(skus) until c ~= a and c ~= b
  return wrk.format(nil, "/v1/orders", nil, string.format(template, math.random(100000), a, b, c))
end
