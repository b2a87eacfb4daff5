/**
 * Token buckets kept in Redis and shared by every replica, taken atomically
 * by one Lua script per request: it refills each bucket from Redis's own
 * clock (so replicas' clocks never matter), and takes one token from every
 * bucket only if all of them hold one. Keys expire once a bucket would be
 * full again, so idle descriptors cost no memory.
 *
 * bottleneck's Redis mode was tried with ioredis 5 and Redis 7 (it works) and
 * refused: about a dozen Redis commands and ~0.9 ms per decision, fixed-window
 * refills, and `schedule()` hangs instead of failing when Redis is down
 * (docs/resilience.md has the numbers).
 */
import type { Redis } from 'ioredis';

/** Command name registered on the client with `defineCommand` (EVALSHA, with EVAL on NOSCRIPT). */
export const TAKE_COMMAND = 'enmeshTakeTokens';

/**
 * KEYS: the buckets. ARGV: per bucket, its rate (tokens per ms) and burst.
 * Returns 0 when a token was taken from every bucket, else the ms until all
 * of them would hold one (nothing taken).
 */
export const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tokens = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', key, 't', 'ts')
  local tk = tonumber(v[1])
  local ts = tonumber(v[2])
  if tk == nil or ts == nil then
    tk = burst
  elseif now > ts then
    tk = math.min(burst, tk + (now - ts) * rate)
  end
  tokens[i] = tk
  if tk < 1 then
    local w = math.ceil((1 - tk) / rate)
    if w > wait then wait = w end
  end
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tk = tokens[i]
  if wait == 0 then tk = tk - 1 end
  redis.call('HSET', key, 't', tostring(tk), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - tk) / rate) + 1000)
end
return wait
`;

type TakeFn = (numKeys: number, ...args: (string | number)[]) => Promise<number>;

/** Registers the script on a client (idempotent) and returns the function that runs it. */
export function takeTokensCommand(redis: Redis): TakeFn {
  const commands = redis as unknown as Record<string, TakeFn | undefined>;
  if (commands[TAKE_COMMAND] === undefined) redis.defineCommand(TAKE_COMMAND, { lua: TAKE_SCRIPT });
  const fn = commands[TAKE_COMMAND]!;
  return fn.bind(redis);
}
