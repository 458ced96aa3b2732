import { createHash } from 'node:crypto';
import { TASK_SORT_FIELDS } from '@ncr-upload/core';
import { TIMED_STAGES } from '@ncr-upload/core/internal';
import type { RedisClient } from './redis-client.js';

/**
 * Lua scripts of the console indexes (redis-insights.ts). Keys, all under the
 * store's hash-tagged prefix `p`:
 * - `p:cx:last:<id>` hash: the task's current span and index memberships;
 * - `p:cx:tl:<id>` list: its closed spans (JSON), oldest first;
 * - `p:cx:sort:<column>` sorted sets: every task by each sortable column;
 * - `p:cx:st:<state>`, `p:cx:wk:<worker>` sorted sets (score: created ms): filters;
 * - `p:cx:lex` sorted set (score 0): `<lower-cased value>\0<id>` for prefix search;
 * - `p:cx:expire` sorted set: finished tasks by the time their entries go;
 * - `p:cx:m:<minute|hour>:<start>` hashes: metric buckets, with a TTL;
 * - `p:cx:wstat:<worker>` hash: processed, failed, last task.
 */

const SORT_LIST = `{${TASK_SORT_FIELDS.map((field) => `'${field}'`).join(', ')}}`;
const TIMED = `{${TIMED_STAGES.map((stage) => `['${stage}'] = true`).join(', ')}}`;

const COMMON = `
local p = ARGV[1]
local SORT = ${SORT_LIST}
local function isActive(state)
  return state == 'queued' or state == 'running' or state == 'retrying'
end
local function forget(id)
  local lastKey = p .. ':cx:last:' .. id
  local f = redis.call('HMGET', lastKey, 'state', 'worker', 'lex')
  for _, field in ipairs(SORT) do redis.call('ZREM', p .. ':cx:sort:' .. field, id) end
  if f[1] then redis.call('ZREM', p .. ':cx:st:' .. f[1], id) end
  if f[2] and f[2] ~= '' then redis.call('ZREM', p .. ':cx:wk:' .. f[2], id) end
  if f[3] then
    for _, value in ipairs(cjson.decode(f[3])) do redis.call('ZREM', p .. ':cx:lex', value .. '\\0' .. id) end
  end
  redis.call('DEL', lastKey, p .. ':cx:tl:' .. id)
  redis.call('ZREM', p .. ':cx:expire', id)
end
`;

/**
 * Record a write of a task. ARGV: p, id, state, stage, attempt, worker, at, atMs,
 * files_done, files_total, bytes_done, bytes_total, error code, error message,
 * duration slot (-1: none), result size, minute key, hour key, minute ttl, hour ttl,
 * retentionMs, created ms, lex values JSON, then one score per sort column.
 */
const RECORD = `${COMMON}
local TIMED = ${TIMED}
local id, state, stage, attempt, worker, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local atMs = tonumber(ARGV[8])
local slot, size = tonumber(ARGV[15]), tonumber(ARGV[16])
local mKey, hKey = ARGV[17], ARGV[18]
local mTtl, hTtl, retention, created = tonumber(ARGV[19]), tonumber(ARGV[20]), tonumber(ARGV[21]), ARGV[22]
local lastKey, tlKey = p .. ':cx:last:' .. id, p .. ':cx:tl:' .. id
local bumped = false
local function bump(field, by)
  redis.call('HINCRBY', mKey, field, by)
  redis.call('HINCRBY', hKey, field, by)
  bumped = true
end
-- One PEXPIRE per bucket per write, however many fields were bumped.
local function expireBuckets()
  if bumped then
    redis.call('PEXPIRE', mKey, mTtl)
    redis.call('PEXPIRE', hKey, hTtl)
  end
end
local function atLeast(old, new)
  return math.max(tonumber(old) or 0, tonumber(new) or 0)
end
local raw = redis.call('HGETALL', lastKey)
local last = {}
for i = 1, #raw, 2 do last[raw[i]] = raw[i + 1] end
local existed = last.state ~= nil
if not existed then bump('c:created', 1) end
local changed = (not existed) or last.state ~= state or last.stage ~= stage or last.attempt ~= attempt
if not changed then
  redis.call('HSET', lastKey,
    'files_done', atLeast(last.files_done, ARGV[9]), 'files_total', ARGV[10],
    'bytes_done', atLeast(last.bytes_done, ARGV[11]), 'bytes_total', ARGV[12])
  expireBuckets()
  return 1
end
if existed then
  local lastError = cjson.null
  if last.err_code and last.err_code ~= '' then lastError = { code = last.err_code, message = last.err_msg } end
  local lastStage = cjson.null
  if last.stage ~= '' then lastStage = last.stage end
  local lastWorker = cjson.null
  if last.span_worker and last.span_worker ~= '' then lastWorker = last.span_worker end
  -- Progress ticks within a span are not recorded (the store skips them): the progress
  -- written with this change is where the closed span got to.
  redis.call('RPUSH', tlKey, cjson.encode({
    attempt = tonumber(last.attempt), state = last.state, stage = lastStage, started_at = last.started_at,
    ended_at = at, worker = lastWorker,
    files_done = atLeast(last.files_done, ARGV[9]), files_total = atLeast(last.files_total, ARGV[10]),
    bytes_done = atLeast(last.bytes_done, ARGV[11]), bytes_total = atLeast(last.bytes_total, ARGV[12]),
    error = lastError }))
  if last.state == 'running' and TIMED[last.stage] then
    bump('sm:' .. last.stage, math.max(0, atMs - tonumber(last.started_ms)))
    bump('sn:' .. last.stage, 1)
  end
end
local fields = {'state', state, 'stage', stage, 'attempt', attempt, 'span_worker', worker,
  'started_at', at, 'started_ms', atMs, 'files_done', ARGV[9], 'files_total', ARGV[10],
  'bytes_done', ARGV[11], 'bytes_total', ARGV[12], 'err_code', ARGV[13], 'err_msg', ARGV[14], 'worker', worker}
-- Sort columns: only the scores that moved (the last one of each is kept in the hash).
for i, field in ipairs(SORT) do
  local score = ARGV[23 + i]
  if last['s:' .. field] ~= score then
    redis.call('ZADD', p .. ':cx:sort:' .. field, score, id)
    fields[#fields + 1] = 's:' .. field
    fields[#fields + 1] = score
  end
end
if not existed then
  for _, value in ipairs(cjson.decode(ARGV[23])) do redis.call('ZADD', p .. ':cx:lex', 0, value .. '\\0' .. id) end
  fields[#fields + 1] = 'lex'
  fields[#fields + 1] = ARGV[23]
end
redis.call('HSET', lastKey, unpack(fields))
if state == 'running' and worker ~= '' and ((not existed) or last.state ~= 'running' or last.attempt ~= attempt) then
  redis.call('HSET', p .. ':cx:wstat:' .. worker, 'last_task_id', id, 'last_task_at', at)
end
local terminal = not isActive(state)
if terminal and ((not existed) or isActive(last.state)) then
  bump('c:' .. state, 1)
  if state == 'succeeded' and size > 0 then bump('bytes', size) end
  if slot >= 0 then bump('d' .. slot, 1) end
  if worker ~= '' then
    redis.call('HINCRBY', p .. ':cx:wstat:' .. worker, 'processed', 1)
    if state == 'failed' then redis.call('HINCRBY', p .. ':cx:wstat:' .. worker, 'failed', 1) end
  end
end
expireBuckets()
-- Filters: only when the state or the worker moved.
if (not existed) or last.state ~= state then
  if existed then redis.call('ZREM', p .. ':cx:st:' .. last.state, id) end
  redis.call('ZADD', p .. ':cx:st:' .. state, created, id)
end
if (not existed) or (last.worker or '') ~= worker then
  if existed and last.worker and last.worker ~= '' then redis.call('ZREM', p .. ':cx:wk:' .. last.worker, id) end
  if worker ~= '' then redis.call('ZADD', p .. ':cx:wk:' .. worker, created, id) end
end
if terminal then
  redis.call('ZADD', p .. ':cx:expire', atMs + retention, id)
elseif existed and not isActive(last.state) then
  redis.call('ZREM', p .. ':cx:expire', id)
end
local due = redis.call('ZRANGEBYSCORE', p .. ':cx:expire', '-inf', atMs, 'LIMIT', 0, 20)
for _, old in ipairs(due) do forget(old) end
return 1
`;

/**
 * A page of task ids. ARGV: p, sort column, order, offset, limit, nonce, from, to,
 * worker, search, max search matches, state count, states...
 * Returns {total, id...}.
 */
const QUERY = `${COMMON}
local field, order, offset, limit, nonce = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local from, to, worker, search, maxSearch = ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local stateCount = tonumber(ARGV[12])
local sortKey = p .. ':cx:sort:' .. field
local tmp = p .. ':cx:tmp:' .. nonce
local filters, temps = {}, {}
if stateCount == 1 then
  filters[#filters + 1] = p .. ':cx:st:' .. ARGV[13]
elseif stateCount > 1 then
  local keys = {}
  for i = 1, stateCount do keys[i] = p .. ':cx:st:' .. ARGV[12 + i] end
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

/** Scripts run by EVALSHA, loaded by EVAL the first time a server lacks them. */
export const insightScripts = { record: script(RECORD), query: script(QUERY) };
