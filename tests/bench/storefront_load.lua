-- wrk script for tests/bench/bench_storefront.py: every request a different line of a payload file.
-- wrk -s storefront_load.lua URL -- FILE KIND THREADS, KIND one of healthz | subscribe | unsubscribe.
-- subscribe lines: JSON body, a tab, the client IP (X-Forwarded-For); unsubscribe lines: the link's path.
-- Each wrk thread takes every THREADS-th line from its own offset, in order, so the requests sent are
-- known afterwards from the per-thread counts printed at the end (SENT lines), and checked in the store.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  kind, sent, ok, bad = args[2], 0, 0, 0
  lines = {}
  if kind ~= "healthz" then
    local index, every = 0, tonumber(args[3])
    for line in io.lines(args[1]) do
      if index % every == id then table.insert(lines, line) end
      index = index + 1
    end
  end
end

function request()
  sent = sent + 1
  if kind == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  local line = lines[sent]
  if line == nil then  -- more requests than lines: the run is invalid, and says so
    return wrk.format("GET", "/payloads-ran-out")
  end
  if kind == "subscribe" then
    local body, ip = line:match("^(.*)\t(.*)$")
    local headers = {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}
    return wrk.format("POST", "/api/subscriptions", headers, body)
  end
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  return wrk.format("POST", line, headers, "List-Unsubscribe=One-Click")
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("SENT %d %d %d %d\n", thread:get("id"), thread:get("sent"), thread:get("ok"),
      thread:get("bad")))
  end
  io.write(string.format("LATENCY %d %d %d %d\n", latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  io.write(string.format("ERRORS %d %d %d %d\n", summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
