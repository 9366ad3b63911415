-- wrk script: each request carries one of the pre-created session cookies, in turn.
-- BENCH_COOKIES names a file of "name=value" lines (none: requests carry no cookie);
-- BENCH_PATH is the request path. done() prints one JSON line the driver parses.
local cookies = {}
local path = os.getenv("BENCH_PATH") or "/"
local file = os.getenv("BENCH_COOKIES")
if file and file ~= "" then
  for line in io.lines(file) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
end
local requests = {}

-- Built in init, after wrk.init has set the Host header (HTTP/1.1 requires it).
init = function(_)
  if #cookies == 0 then
    requests[1] = wrk.format("GET", path)
  else
    for i, cookie in ipairs(cookies) do
      requests[i] = wrk.format("GET", path, { ["Cookie"] = cookie })
    end
  end
end

local n = 0

request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
