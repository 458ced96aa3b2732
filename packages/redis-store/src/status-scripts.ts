import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import { COMMON } from './status-common-lua.js';

/**
 * Lua scripts of the Redis status store. Each is one round trip and runs
 * atomically in Redis, so a task's record, its index entries, the counts of
 * its batches and its event never disagree, whatever number of processes
 * write at once.
 *
 * Every key starts with the hash-tagged prefix (`{ncr}`) passed as ARGV[1]:
 * all keys of one deployment live in one cluster slot. KEYS[1] is
 * `<prefix>:tasks`, declared so that a Redis Cluster client sends the script
 * to the node that owns that slot. Key layout: redis-status-store.ts.
 */

/**
 * Create a task with its indexes, its console entries and its event.
 * ARGV: prefix, task_id, jobKey, state, score, nowMs, retentionMs, origin,
 * username, campaign, job_id, attempts, K, then K values for the console
 * (insightsOfCreate in insight-scripts.ts), then field/value pairs of the record.
 * Returns {0, existingHash} (an active task holds the job), {1} (created) or
 * {2} (the task id is taken).
 */
export const CREATE_TASK_LUA = `${COMMON}
local id, jobKey, state = ARGV[2], ARGV[3], ARGV[4]
local score, nowMs, retentionMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local origin, username, campaign, jobId = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local firstField = 14 + tonumber(ARGV[13])
sweep(nowMs)
if isActive(state) then
  local existing = redis.call('GET', jobKey)
  if existing then
    local flat = redis.call('HGETALL', p .. ':task:' .. existing)
    if #flat > 0 then return {0, flat} end
    redis.call('DEL', jobKey)
  end
end
local taskKey = p .. ':task:' .. id
if redis.call('EXISTS', taskKey) == 1 then return {2} end
-- _nobatch: in no batch yet (createBatch clears it), so an update skips reading its memberships.
redis.call('HSET', taskKey, '_username', username, '_campaign', campaign, '_score', ARGV[5], '_jobkey', jobKey,
  '_nobatch', '1', unpack(ARGV, firstField))
redis.call('ZADD', p .. ':tasks', score, id)
redis.call('ZADD', p .. ':idx:username:' .. username, score, id)
redis.call('ZADD', p .. ':idx:campaign:' .. campaign, score, id)
redis.call('ZADD', p .. ':idx:state:' .. state, score, id)
redis.call('ZADD', p .. ':idx:job:' .. jobId, score, id)
if isActive(state) then
  markActive(id, jobKey, score)
else
  markFinished(id, jobKey, nowMs, retentionMs)
end
recordInsights(id, insightsOfCreate(state, ARGV[12], retentionMs, 14))
-- The event from the fields just written (the record's fields are exactly these pairs).
publish('task.created', toHash(ARGV, firstField), origin)
return {1}
`;

/**
 * Merge a patch into one task: the fields set, the fields removed (null), and
 * `updated_at` moved to the given stamp unless the stored one is later. Keeps
 * the indexes, the batch counts and, when state, stage, attempts or worker
 * changed, the console entries in step, and publishes the event.
 * A terminal state is written once: a patch that sets a terminal state on a
 * task already terminal at the same attempt (e.g. a write retried after its
 * reply was lost) changes nothing and publishes nothing.
 * ARGV: prefix, task_id, nowMs, retentionMs, graceMs, origin, stamp, minute
 * bucket key, hour bucket key, worker sort score ('' unless the patch sets the
 * worker), setCount, then setCount field/value pairs, then the names of fields to remove.
 * Returns {-1} (unknown task), {1, hash after the change} or {2, hash, mine}
 * (the terminal write was done already: nothing changed; mine is 1 when this
 * store instance, `origin`, wrote it).
 *
 * With setCount -1 and ARGV[12] a worker id, it starts the task's next attempt
 * instead (`startAttempt`): running, stage resolve, attempts + 1, started_at kept
 * or set, the worker, no error; returns {1, hash} (started), {0, hash} (ended or
 * a stop requested: not started) or {3, hash} (started by this worker already).
 */
const UPDATE_TASK = `${COMMON}
local id, nowMs, retentionMs, graceMs = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local origin, stamp = ARGV[6], ARGV[7]
local mKey, hKey, workerScore, setCount = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local taskKey = p .. ':task:' .. id
local current = redis.call('HMGET', taskKey, 'state', 'updated_at', '_score', '_jobkey', 'stage', 'attempts', 'worker',
  'cancel_requested', 'started_at', '_nobatch')
if not current[1] then return {-1} end
-- The patch: field/value pairs to set and names to remove.
local patch, removed = {}, {}
if setCount == -1 then
  -- Start the next attempt (ARGV[12]: the worker) unless the task ended or a stop was requested.
  local worker = ARGV[12]
  if isTerminal(current[1]) or current[8] == '1' then return {0, redis.call('HGETALL', taskKey)} end
  -- Started by this worker already: a start repeated after a lost reply.
  if current[1] == 'running' and current[7] == worker then return {3, redis.call('HGETALL', taskKey)} end
  patch = {'state', 'running', 'stage', 'resolve', 'attempts', tostring(tonumber(current[6] or '0') + 1),
    'started_at', current[9] or stamp, 'worker', worker}
  removed = {'error'}
else
  for i = 12, 11 + 2 * setCount do patch[#patch + 1] = ARGV[i] end
  for i = 12 + 2 * setCount, #ARGV do removed[#removed + 1] = ARGV[i] end
end
-- Exactly one terminal write per attempt: a repeated one (its reply was lost, the caller retried) is a no-op.
if isTerminal(current[1]) then
  local newState, newAttempts = nil, nil
  for i = 1, #patch, 2 do
    if patch[i] == 'state' then newState = patch[i + 1] end
    if patch[i] == 'attempts' then newAttempts = patch[i + 1] end
  end
  if isTerminal(newState) and (newAttempts == nil or newAttempts == (current[6] or '0')) then
    -- 1 when this store instance wrote that terminal state (its caller may not have seen the reply).
    local mine = 0
    if redis.call('HGET', taskKey, '_origin') == origin then mine = 1 end
    return {2, redis.call('HGETALL', taskKey), mine}
  end
end
-- Whether the console indexes care (insights RECORD): state, stage, attempts or worker changed.
local watched = { state = current[1], stage = current[5], attempts = current[6], worker = current[7] }
local indexed = 0
local oldState, score, jobKey = current[1], tonumber(current[3]), current[4]
local state = oldState
local updatedAt = current[2]
if not updatedAt or stamp > updatedAt then updatedAt = stamp end
local sets = {'updated_at', updatedAt}
for i = 1, #patch, 2 do
  local name, value = patch[i], patch[i + 1]
  if name == 'state' then state = value end
  -- (HMGET gives false for a missing field, so every watched name is in the table.)
  if watched[name] ~= nil and watched[name] ~= value then indexed = 1 end
  sets[#sets + 1] = name
  sets[#sets + 1] = value
end
-- Which store instance wrote the terminal state (see the repeated terminal write above).
if isTerminal(state) and not isTerminal(oldState) then
  sets[#sets + 1] = '_origin'
  sets[#sets + 1] = origin
end
redis.call('HSET', taskKey, unpack(sets))
if #removed > 0 then
  for _, name in ipairs(removed) do
    if watched[name] then indexed = 1 end
  end
  redis.call('HDEL', taskKey, unpack(removed))
end
-- A task created in no batch and never added to one has no memberships to read.
local memberships = {}
if current[10] ~= '1' then memberships = redis.call('HGETALL', p .. ':task-batches:' .. id) end
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
  if isActive(oldState) and not isActive(state) then markFinished(id, jobKey, nowMs, retentionMs) end
  if not isActive(oldState) and isActive(state) then markActive(id, jobKey, score) end
end
local flat = redis.call('HGETALL', taskKey)
local h = toHash(flat)
if indexed == 1 then
  recordInsights(id, insightsOfHash(h, updatedAt, nowMs, mKey, hKey, retentionMs, workerScore))
end
publish('task.updated', h, origin)
-- Tasks join the sweep's list only as they finish: sweeping then (and on every create) keeps up.
if oldState ~= state and isTerminal(state) then sweep(nowMs) end
return {1, flat}
`;

/**
 * ARGV: prefix, batch_id, created_at, taskIdsJson, retentionMs, graceMs, task ids...
 * Returns {1} or {0, missingId}.
 */
const CREATE_BATCH = `${COMMON}
local batchId, createdAt, idsJson = ARGV[2], ARGV[3], ARGV[4]
local retentionMs, graceMs = tonumber(ARGV[5]), tonumber(ARGV[6])
local batchKey = p .. ':batch:' .. batchId
local states, updated, times, order = {}, {}, {}, {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', p .. ':task:' .. id, 'state', 'updated_at')
  if not f[1] then return {0, id} end
  if not times[id] then
    times[id] = 0
    order[#order + 1] = id
    states[id] = f[1]
    updated[id] = f[2]
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
  redis.call('HSET', p .. ':task-batches:' .. id, batchId, times[id])
  redis.call('HDEL', p .. ':task:' .. id, '_nobatch')
  local taskUpdated = updated[id]
  if type(taskUpdated) == 'string' and taskUpdated > updatedAt then updatedAt = taskUpdated end
end
redis.call('HSET', batchKey, 'completed', completed, 'updated_at', updatedAt)
-- Done already (empty, or every task ended): no task update will set its TTL.
if completed >= total then redis.call('PEXPIRE', batchKey, retentionMs + graceMs) end
return {1}
`;

export interface StatusScripts {
  createTask(client: RedisClient, args: (string | number)[]): Promise<[number, string[]?]>;
  updateTask(client: RedisClient, args: (string | number)[]): Promise<[number, string[]?, number?]>;
  createBatch(client: RedisClient, args: (string | number)[]): Promise<[number, string?]>;
}

/** True for Redis's answer to a script it does not hold. */
export const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.includes('NOSCRIPT');

/** The key a script call declares (it routes the call on a Cluster): the task index of the prefix in `args[0]`. */
const keyOf = (args: (string | number)[]) => `${String(args[0])}:tasks`;

/** A script called by its hash alone: rejects with NOSCRIPT when the server lacks it. */
function byHash(source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return (client: RedisClient, args: (string | number)[]): Promise<unknown> =>
    client.evalsha(sha, 1, keyOf(args), ...args);
}

function script(source: string, send = byHash(source)) {
  return async (client: RedisClient, args: (string | number)[]) => {
    try {
      return await send(client, args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return client.eval(source, 1, keyOf(args), ...args);
    }
  };
}

/** The create script by its hash alone: the BullMQ queue sends it beside its add (task-creation.ts). */
export const createTaskByHash = byHash(CREATE_TASK_LUA);

/** Scripts run by EVALSHA, loaded by EVAL the first time a server lacks them (also after a restart). */
export const statusScripts = {
  createTask: script(CREATE_TASK_LUA, createTaskByHash),
  updateTask: script(UPDATE_TASK),
  createBatch: script(CREATE_BATCH),
} as unknown as StatusScripts;
