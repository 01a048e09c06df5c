-- wrk script: as place_order.lua, each order with price terms: a discount and 20% VAT on every
-- line, an order discount allocated over the lines, and a shipping line with its own VAT.
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

local vat = '"taxes":[{"name":"VAT","rate":"0.2"}]'

function request()
  local a = math.random(skus)
  local b, c
  repeat b = math.random(skus) until b ~= a
  repeat c = math.random(skus) until c ~= a and c ~= b
  local body = string.format(
    '{"channel":"web","customer_id":"C-%d","currency":"GBP","lines":['
      .. '{"sku":"S%d","quantity":1,"unit_price":"2.50","discounts":[{"code":"LINE","amount":"0.25"}],' .. vat .. '},'
      .. '{"sku":"S%d","quantity":1,"unit_price":"3.10","discounts":[{"code":"LINE","amount":"0.25"}],' .. vat .. '},'
      .. '{"sku":"S%d","quantity":1,"unit_price":"1.25","discounts":[{"code":"LINE","amount":"0.25"}],' .. vat .. '}],'
      .. '"discounts":[{"code":"ORDER","amount":"1.00"}],'
      .. '"shipping":[{"code":"standard","fee":"3.99",' .. vat .. '}]}',
    math.random(100000), a, b, c)
  return wrk.format(nil, "/v1/orders", nil, body)
end
