-- wrk script: POST a typical chat completion request and print a JSON summary line at the end.
-- BENCH_KEY (env) is sent as the bearer token; the body's model is BENCH_MODEL (env).
-- BENCH_METHOD=GET sends a bodiless GET to BENCH_PATH instead (readiness checks).

local model = os.getenv("BENCH_MODEL") or "bench-model"
local key = os.getenv("BENCH_KEY") or "none"

wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Authorization"] = "Bearer " .. key
if wrk.method == "POST" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"model":"' .. model .. '","messages":['
    .. '{"role":"system","content":"You are a helpful assistant. Answer briefly."},'
    .. '{"role":"user","content":"Write one short paragraph about a quick brown fox '
    .. 'and a lazy dog, suitable for a typing exercise."}],'
    .. '"temperature":0.7,"max_tokens":256,"user":"bench"}'
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
