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

-- One format string, built once: the load generator shares the machine's cores, and must not
-- spend more per request on one kind of order than on the other.
local vat = '"taxes":[{"name":"VAT","rate":"0.2"}]'
local discount = '"discounts":[{"code":"LINE","amount":"0.25"}]'
local template = '{"channel":"web","customer_id":"C-%d","currency":"GBP","lines":['
  .. '{"sku":"S%d","quantity":1,"unit_price":"2.50",' .. discount .. ',' .. vat .. '},'
  .. '{"sku":"S%d","quantity":1,"unit_price":"3.10",' .. discount .. ',' .. vat .. '},'
  .. '{"sku":"S%d","quantity":1,"unit_price":"1.25",' .. discount .. ',' .. vat .. '}],'
  .. '"discounts":[{"code":"ORDER","amount":"1.00"}],'
  .. '"shipping":[{"code":"standard","fee":"3.99",' .. vat .. '}]}'

function request()
  local a = math.random(skus)
  local b, c
  repeat b = math.random(skus) until b ~= a
  repeat c = math.random(skus) until c ~= a and c ~= b
  return wrk.format(nil, "/v1/orders", nil, string.format(template, math.random(100000), a, b, c))
end
