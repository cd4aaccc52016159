import type { Result } from 'ioredis';

/**
 * The Lua script that trims a stream to about `maxLength` entries without ever deleting an entry
 * some consumer group still needs. It runs atomically on the server:
 *
 * 1. nothing happens while `XLEN <= maxLength`;
 * 2. every group's *floor* is the smallest id it may still need: the oldest entry of its pending
 *    list (`XPENDING` summary) when it has one, else its `last-delivered-id` (everything after it is
 *    undelivered; everything up to it is acknowledged);
 * 3. the threshold is the id the length limit alone would keep from (the `(XLEN - maxLength)`-th
 *    entry), lowered to the smallest floor of all groups;
 * 4. `XTRIM MINID ~ threshold` removes only whole radix-tree nodes whose entries are all older than
 *    the threshold, so the approximation only ever keeps more, never less.
 *
 * A stream without groups is trimmed by the length limit alone. The XRANGE of step 3 is bounded by
 * the floor, so a lagging group makes the script cheap rather than costly.
 */
export const TRIM_SCRIPT = `
local stream = KEYS[1]
local maxLength = tonumber(ARGV[1])
local length = redis.call('XLEN', stream)
if length <= maxLength then return 0 end
local function parts(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function older(left, right)
  local leftMs, leftSeq = parts(left)
  local rightMs, rightSeq = parts(right)
  if leftMs ~= rightMs then return leftMs < rightMs end
  return leftSeq < rightSeq
end
local floor = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local name, pending, lastDelivered
  for index = 1, #group, 2 do
    local field = group[index]
    if field == 'name' then name = group[index + 1]
    elseif field == 'pending' then pending = group[index + 1]
    elseif field == 'last-delivered-id' then lastDelivered = group[index + 1] end
  end
  local needed = lastDelivered
  if pending > 0 then
    local oldestPending = redis.call('XPENDING', stream, name)[2]
    if older(oldestPending, needed) then needed = oldestPending end
  end
  if floor == nil or older(needed, floor) then floor = needed end
end
local excess = length - maxLength
local oldest = redis.call('XRANGE', stream, '-', floor or '+', 'COUNT', excess + 1)
local threshold = floor
if #oldest == excess + 1 then threshold = oldest[#oldest][1] end
if threshold == nil then return 0 end
return redis.call('XTRIM', stream, 'MINID', '~', threshold)
`;

/** The name the script is registered under with `defineCommand`. */
export const TRIM_COMMAND = 'platformTrimStream';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Runs {@link TRIM_SCRIPT} on `stream`; resolves with the number of entries removed. */
    platformTrimStream(stream: string, maxLength: number): Result<number, Context>;
  }
}
