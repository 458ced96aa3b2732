import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

/**
 * Lua scripts of the Redis status store. Each runs atomically in Redis, so a
 * task's record, its index entries and the counts of its batches never
 * disagree, whatever number of processes write at once.
 *
 * Every key starts with the hash-tagged prefix (`{ncr}`) passed as ARGV[1]:
 * all keys of one deployment live in one cluster slot. KEYS[1] is
 * `<prefix>:tasks`, declared so that a Redis Cluster client sends the script
 * to the node that owns that slot. Key layout: see docs/scaling.md.
 */

const COMMON = `
local p = ARGV[1]
local function isActive(state)
  return state == 'queued' or state == 'running' or state == 'retrying'
end
local function isTerminal(state)
  return state ~= nil and state ~= false and not isActive(state)
end
local function indexKeys(taskKey)
  local f = redis.call('HMGET', taskKey, 'username', 'campaign', 'state', 'job_id')
  return f
end
-- Remove up to 20 tasks whose retention ended (bounded work per call).
local function sweep(nowMs)
  local due = redis.call('ZRANGEBYSCORE', p .. ':finished', '-inf', nowMs, 'LIMIT', 0, 20)
  for _, id in ipairs(due) do
    local taskKey = p .. ':task:' .. id
    local f = indexKeys(taskKey)
    if f[1] then redis.call('ZREM', p .. ':idx:username:' .. f[1], id) end
    if f[2] then redis.call('ZREM', p .. ':idx:campaign:' .. f[2], id) end
    if f[3] then redis.call('ZREM', p .. ':idx:state:' .. f[3], id) end
    if f[4] then redis.call('ZREM', p .. ':idx:job:' .. f[4], id) end
    redis.call('ZREM', p .. ':tasks', id)
    redis.call('DEL', taskKey, p .. ':task-batches:' .. id)
    redis.call('ZREM', p .. ':finished', id)
  end
end
-- The task left the active states: out of the active set, job_id free again, and
-- on the sweep's work list. No TTL on its keys: the sweep reads the index fields
-- from the record, so the record must live until the sweep has run.
local function markFinished(id, jobId, nowMs, retentionMs)
  redis.call('ZREM', p .. ':active', id)
  local jobKey = p .. ':job:' .. jobId
  if redis.call('GET', jobKey) == id then redis.call('DEL', jobKey) end
  redis.call('ZADD', p .. ':finished', nowMs + retentionMs, id)
end
local function markActive(id, jobId, score)
  -- PERSIST: records finished by an earlier version carry a TTL.
  redis.call('PERSIST', p .. ':task:' .. id)
  redis.call('PERSIST', p .. ':task-batches:' .. id)
  redis.call('ZREM', p .. ':finished', id)
  redis.call('ZADD', p .. ':active', score, id)
  redis.call('SET', p .. ':job:' .. jobId, id, 'NX')
end
`;

/**
 * ARGV: prefix, task_id, job_id, username, campaign, state, json, score,
 * nowMs, retentionMs, graceMs, eventMessage.
 * Returns {0, existingJson} (deduplicated), {1, json} (created) or {2} (task id taken).
 */
const CREATE_TASK = `${COMMON}
local id, jobId, username, campaign, state, json = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local score, nowMs, retentionMs, graceMs = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
sweep(nowMs)
local jobKey = p .. ':job:' .. jobId
if isActive(state) then
  local existing = redis.call('GET', jobKey)
  if existing then
    local existingJson = redis.call('HGET', p .. ':task:' .. existing, 'json')
    if existingJson then return {0, existingJson} end
    redis.call('DEL', jobKey)
  end
end
local taskKey = p .. ':task:' .. id
if redis.call('EXISTS', taskKey) == 1 then return {2} end
redis.call('HSET', taskKey, 'json', json, 'state', state, 'rev', 1, 'job_id', jobId,
  'username', username, 'campaign', campaign, 'score', ARGV[8])
redis.call('ZADD', p .. ':tasks', score, id)
redis.call('ZADD', p .. ':idx:username:' .. username, score, id)
redis.call('ZADD', p .. ':idx:campaign:' .. campaign, score, id)
redis.call('ZADD', p .. ':idx:state:' .. state, score, id)
redis.call('ZADD', p .. ':idx:job:' .. jobId, score, id)
if isActive(state) then
  markActive(id, jobId, score)
else
  markFinished(id, jobId, nowMs, retentionMs)
end
redis.call('PUBLISH', p .. ':events', ARGV[12])
return {1, json}
`;

/**
 * Compare-and-set of one task. ARGV: prefix, task_id, expectedRev, json,
 * state, updated_at, nowMs, retentionMs, graceMs, eventMessage.
 * Returns {-1} (unknown task), {0} (revision moved: re-read and retry) or {1}.
 */
const UPDATE_TASK = `${COMMON}
local id, expectedRev, json, state, updatedAt = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local nowMs, retentionMs, graceMs = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local taskKey = p .. ':task:' .. id
local current = redis.call('HMGET', taskKey, 'rev', 'state', 'job_id', 'score')
if not current[1] then return {-1} end
if current[1] ~= expectedRev then return {0} end
local oldState, jobId, score = current[2], current[3], tonumber(current[4])
redis.call('HSET', taskKey, 'json', json, 'state', state, 'rev', tonumber(current[1]) + 1)
local memberships = redis.call('HGETALL', p .. ':task-batches:' .. id)
for i = 1, #memberships, 2 do
  local batchKey = p .. ':batch:' .. memberships[i]
  local times = tonumber(memberships[i + 1])
  if redis.call('EXISTS', batchKey) == 1 then
    if oldState ~= state then
      redis.call('HINCRBY', batchKey, 'count:' .. oldState, -times)
      redis.call('HINCRBY', batchKey, 'count:' .. state, times)
      local delta = 0
      if isTerminal(state) and not isTerminal(oldState) then delta = times end
      if isTerminal(oldState) and not isTerminal(state) then delta = -times end
      local completed = redis.call('HINCRBY', batchKey, 'completed', delta)
      if completed >= tonumber(redis.call('HGET', batchKey, 'total')) then
        redis.call('PEXPIRE', batchKey, retentionMs + graceMs)
      else
        redis.call('PERSIST', batchKey)
      end
    end
    local batchUpdated = redis.call('HGET', batchKey, 'updated_at')
    if not batchUpdated or updatedAt > batchUpdated then redis.call('HSET', batchKey, 'updated_at', updatedAt) end
  end
end
if oldState ~= state then
  redis.call('ZREM', p .. ':idx:state:' .. oldState, id)
  redis.call('ZADD', p .. ':idx:state:' .. state, score, id)
  if isActive(oldState) and not isActive(state) then markFinished(id, jobId, nowMs, retentionMs) end
  if not isActive(oldState) and isActive(state) then markActive(id, jobId, score) end
end
sweep(nowMs)
redis.call('PUBLISH', p .. ':events', ARGV[10])
return {1}
`;

/**
 * ARGV: prefix, batch_id, created_at, taskIdsJson, retentionMs, graceMs, task ids...
 * Returns {1} or {0, missingId}.
 */
const CREATE_BATCH = `${COMMON}
local batchId, createdAt, idsJson = ARGV[2], ARGV[3], ARGV[4]
local retentionMs, graceMs = tonumber(ARGV[5]), tonumber(ARGV[6])
local batchKey = p .. ':batch:' .. batchId
local states, times, order = {}, {}, {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', p .. ':task:' .. id, 'state', 'json')
  if not f[1] then return {0, id} end
  if not times[id] then
    times[id] = 0
    order[#order + 1] = id
    states[id] = f[1]
  end
  times[id] = times[id] + 1
end
-- Replacing a batch: forget the old memberships first.
local old = redis.call('HGET', batchKey, 'task_ids')
if old then
  for _, id in ipairs(cjson.decode(old)) do redis.call('HDEL', p .. ':task-batches:' .. id, batchId) end
  redis.call('DEL', batchKey)
end
local total, completed, updatedAt = #ARGV - 6, 0, createdAt
redis.call('HSET', batchKey, 'created_at', createdAt, 'total', total, 'task_ids', idsJson)
for _, id in ipairs(order) do
  local state = states[id]
  redis.call('HINCRBY', batchKey, 'count:' .. state, times[id])
  if isTerminal(state) then completed = completed + times[id] end
  local membershipKey = p .. ':task-batches:' .. id
  redis.call('HSET', membershipKey, batchId, times[id])
  local ttl = redis.call('PTTL', p .. ':task:' .. id)
  if ttl > 0 then redis.call('PEXPIRE', membershipKey, ttl) end
  local taskUpdated = cjson.decode(redis.call('HGET', p .. ':task:' .. id, 'json')).updated_at
  if type(taskUpdated) == 'string' and taskUpdated > updatedAt then updatedAt = taskUpdated end
end
redis.call('HSET', batchKey, 'completed', completed, 'updated_at', updatedAt)
-- Done already (empty, or every task ended): no task update will set its TTL.
if completed >= total then redis.call('PEXPIRE', batchKey, retentionMs + graceMs) end
return {1}
`;

export interface StatusScripts {
  createTask(client: RedisClient, args: (string | number)[]): Promise<[number, string?]>;
  updateTask(client: RedisClient, args: (string | number)[]): Promise<[number]>;
  createBatch(client: RedisClient, args: (string | number)[]): Promise<[number, string?]>;
}

function script(source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (client: RedisClient, args: (string | number)[]) => {
    const routingKey = `${String(args[0])}:tasks`;
    try {
      return await client.evalsha(sha, 1, routingKey, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return client.eval(source, 1, routingKey, ...args);
    }
  };
}

/** Scripts run by EVALSHA, loaded by EVAL the first time a server lacks them (also after a restart). */
export const statusScripts = {
  createTask: script(CREATE_TASK),
  updateTask: script(UPDATE_TASK),
  createBatch: script(CREATE_BATCH),
} as unknown as StatusScripts;
