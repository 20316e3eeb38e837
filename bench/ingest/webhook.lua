-- wrk script: FreqTrade-shaped webhooks (json format, every value a
-- string), each one distinct (trade id, dates, rates), spread over the
-- strategies listed in the STRATEGIES environment variable
-- ("id:token id:token ..."). RUN (a small number) keeps the messages of
-- one wrk run distinct from another's, so none is a duplicate.
local strategies = {}
local thread_no = 0
local threads = {}

function setup(thread)
  thread:set("tno", thread_no)
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

function init(args)
  for id, tok in string.gmatch(os.getenv("STRATEGIES") or "", "(%d+):(%S+)") do
    table.insert(strategies, { id = id, path = "/api/v1/signals/webhook/" .. id .. "/" .. tok })
  end
  counter = 0
  tno = tonumber(tno) or 0
  run = tonumber(os.getenv("RUN") or "0")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local kinds = { "entry", "entry_fill", "exit", "exit_fill" }

function request()
  counter = counter + 1
  local n = run * 1e12 + tno * 1e9 + counter
  local s = strategies[(counter % #strategies) + 1]
  local kind = kinds[(counter % 4) + 1]
  local sec = counter % 60
  local min = math.floor(counter / 60) % 60
  local hour = math.floor(counter / 3600) % 24
  local strength = (counter % 100) / 100
  local body
  if kind == "entry" or kind == "entry_fill" then
    body = string.format(
      '{"type":"%s","trade_id":"%.0f","exchange":"Binance","pair":"BTC/USDT",' ..
      '"direction":"Long","leverage":"1.0","limit":"64250.5","open_rate":"%d.5",' ..
      '"order_type":"limit","stake_amount":"99.97","stake_currency":"USDT",' ..
      '"base_currency":"BTC","quote_currency":"USDT","fiat_currency":"USD",' ..
      '"amount":"0.001556","open_date":"2025-06-01 %02d:%02d:%02d.%06d+00:00",' ..
      '"current_rate":"64251.0","enter_tag":"ema_cross strength=%.2f rsi=28.4",' ..
      '"sub_trade":"False"}',
      kind, n, 60000 + counter % 5000, hour, min, sec, (tno * 7919 + counter) % 1000000, strength)
  else
    body = string.format(
      '{"type":"%s","trade_id":"%.0f","exchange":"Binance","pair":"ETH/USDT",' ..
      '"direction":"Short","gain":"profit","open_rate":"3500.1","close_rate":"%d.25",' ..
      '"order_rate":"3499.0","amount":"0.0285","stake_amount":"99.75",' ..
      '"stake_currency":"USDT","profit_amount":"0.42","profit_ratio":"0.0042",' ..
      '"exit_reason":"roi strength=%.2f","open_date":"2025-06-01 07:00:00+00:00",' ..
      '"close_date":"2025-06-01 %02d:%02d:%02d.%06d+00:00","current_rate":"3490.0",' ..
      '"sub_trade":"False","is_final_exit":"True"}',
      kind, n, 3000 + counter % 500, strength, hour, min, sec, (tno * 7919 + counter) % 1000000)
  end
  return wrk.format(nil, s.path, nil, body)
end

local non2xx = 0
function response(status, headers, body)
  if status ~= 200 and status ~= 202 then
    non2xx = non2xx + 1
    if non2xx < 3 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
