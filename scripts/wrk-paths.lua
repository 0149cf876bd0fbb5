-- wrk script shared by scripts/bench-web.sh and scripts/soak-web.sh:
-- requests the paths listed one per line in the file $WRK_PATHS, in
-- order from a random start, and prints one RESULT line at the end.
local f = assert(io.open(os.getenv("WRK_PATHS")))
local paths = {}
for line in f:lines() do paths[#paths + 1] = line end
f:close()
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(s, latency, requests)
  local errors = s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout
  io.write(string.format("RESULT requests=%d errors=%d non2xx=%d rps=%.0f p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
    s.requests, errors, s.errors.status, s.requests / (s.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
