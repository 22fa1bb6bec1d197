-- GCRA for one key, atomically, with the Redis server's clock so every process agrees.
-- KEYS[1]: the budget's key, holding its theoretical arrival time (TAT) in µs since the epoch.
-- ARGV[1]: emission interval in µs (>= 1). ARGV[2]: burst (>= 1).
-- Returns {1, remaining} when allowed, {0, retry_after_µs} when limited.
-- µs since the epoch (~1.8e15) stay exact in Lua's doubles (< 2^53).
-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told otherwise;
-- from 5 on this is the default and the call is a no-op.
if redis.replicate_commands then
  redis.replicate_commands()
end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tolerance = interval * burst

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, allow_at - now}
end

-- Once new_tat has passed the budget is full again, so the key can go.
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, math.floor((now + tolerance - new_tat) / interval)}
