import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

/**
 * The query script of the console indexes (redis-insights.ts); they are written
 * by the store's own scripts (insight-record-lua.ts). Keys, all under the
 * store's hash-tagged prefix `p`:
 * - `p:cx:last:<id>` hash: the task's current span and index memberships;
 * - `p:cx:tl:<id>` list: its closed spans (JSON), oldest first;
 * - `p:cx:sort:<column>` sorted sets: every task by each sortable column;
 * - `p:cx:wk:<worker>` sorted sets (score: created ms): the worker filter; the state
 *   filter is the store's own `p:idx:state:<state>` (redis-status-store.ts; its score is
 *   not used: filters intersect with weight 0);
 * - `p:cx:lex` sorted set (score 0): `<lower-cased value>\0<id>` for prefix search;
 * - `p:cx:expire` sorted set: finished tasks by the time their entries go;
 * - `p:cx:m:<minute|hour>:<start>` hashes: metric buckets, with a TTL;
 * - `p:cx:wstat:<worker>` hash: processed, failed, last task.
 */

/**
 * A page of task ids. ARGV: p, sort column, order, offset, limit, nonce, from, to,
 * worker, search, max search matches, state count, states...
 * Returns {total, id...}.
 */
const QUERY = `
local p = ARGV[1]
local field, order, offset, limit, nonce = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local from, to, worker, search, maxSearch = ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local stateCount = tonumber(ARGV[12])
local sortKey = p .. ':cx:sort:' .. field
local tmp = p .. ':cx:tmp:' .. nonce
local filters, temps = {}, {}
if stateCount == 1 then
  filters[#filters + 1] = p .. ':idx:state:' .. ARGV[13]
elseif stateCount > 1 then
  local keys = {}
  for i = 1, stateCount do keys[i] = p .. ':idx:state:' .. ARGV[12 + i] end
  redis.call('ZUNIONSTORE', tmp .. ':s', stateCount, unpack(keys))
  filters[#filters + 1] = tmp .. ':s'
  temps[#temps + 1] = tmp .. ':s'
end
if worker ~= '' then filters[#filters + 1] = p .. ':cx:wk:' .. worker end
if from ~= '' or to ~= '' then
  local low, high = '-inf', '+inf'
  if from ~= '' then low = from end
  if to ~= '' then high = to end
  redis.call('ZRANGESTORE', tmp .. ':t', p .. ':cx:sort:created_at', low, high, 'BYSCORE')
  filters[#filters + 1] = tmp .. ':t'
  temps[#temps + 1] = tmp .. ':t'
end
if search ~= '' then
  local members = redis.call('ZRANGEBYLEX', p .. ':cx:lex', '[' .. search, '[' .. search .. '\\255', 'LIMIT', 0, maxSearch)
  if #members == 0 then
    for _, key in ipairs(temps) do redis.call('DEL', key) end
    return {0}
  end
  local batch = {}
  for _, member in ipairs(members) do
    batch[#batch + 1] = 0
    batch[#batch + 1] = string.match(member, '%z([^%z]*)$')
    if #batch >= 1000 then redis.call('ZADD', tmp .. ':q', unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('ZADD', tmp .. ':q', unpack(batch)) end
  filters[#filters + 1] = tmp .. ':q'
  temps[#temps + 1] = tmp .. ':q'
end
local source = sortKey
if #filters > 0 then
  source = tmp .. ':out'
  local args = {source, #filters + 1, sortKey}
  for _, key in ipairs(filters) do args[#args + 1] = key end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = 1
  for _ = 1, #filters do args[#args + 1] = 0 end
  redis.call('ZINTERSTORE', unpack(args))
  temps[#temps + 1] = source
end
local total = redis.call('ZCARD', source)
local ids = {}
if limit > 0 and offset < total then
  if order == 'asc' then
    ids = redis.call('ZRANGE', source, offset, offset + limit - 1)
  else
    ids = redis.call('ZRANGE', source, offset, offset + limit - 1, 'REV')
  end
end
for _, key in ipairs(temps) do redis.call('DEL', key) end
local out = {total}
for _, value in ipairs(ids) do out[#out + 1] = value end
return out
`;

function script(source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (client: RedisClient, args: (string | number)[]): Promise<unknown> => {
    const routingKey = `${String(args[0])}:tasks`;
    try {
      return await client.evalsha(sha, 1, routingKey, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return client.eval(source, 1, routingKey, ...args);
    }
  };
}

/** The console's query script, run by EVALSHA, loaded by EVAL the first time a server lacks it. */
export const insightScripts = { query: script(QUERY) };
