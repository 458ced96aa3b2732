import { INSIGHTS_LUA } from './insight-record-lua.js';

/**
 * The shared prelude of the status store's Lua scripts (status-scripts.ts):
 * `p` (the hash-tagged prefix, ARGV[1]), state tests, the retention sweep,
 * the active/finished bookkeeping, the event publisher and the console
 * index functions (insight-record-lua.ts).
 */
export const COMMON = `
local p = ARGV[1]
local function isActive(state)
  return state == 'queued' or state == 'running' or state == 'retrying'
end
local function isTerminal(state)
  return state ~= nil and state ~= false and not isActive(state)
end
-- Remove up to 20 tasks whose retention ended (bounded work per call).
local function sweep(nowMs)
  local due = redis.call('ZRANGEBYSCORE', p .. ':finished', '-inf', nowMs, 'LIMIT', 0, 20)
  for _, id in ipairs(due) do
    local taskKey = p .. ':task:' .. id
    local f = redis.call('HMGET', taskKey, '_username', '_campaign', 'state', 'job_id')
    if f[1] then redis.call('ZREM', p .. ':idx:username:' .. f[1], id) end
    if f[2] then redis.call('ZREM', p .. ':idx:campaign:' .. f[2], id) end
    if f[3] then redis.call('ZREM', p .. ':idx:state:' .. f[3], id) end
    if f[4] then redis.call('ZREM', p .. ':idx:job:' .. f[4], id) end
    redis.call('ZREM', p .. ':tasks', id)
    redis.call('DEL', taskKey, p .. ':task-batches:' .. id)
    redis.call('ZREM', p .. ':finished', id)
  end
end
-- The task left the active states: out of the active set, its job free again, and
-- on the sweep's work list. No TTL on its keys: the sweep reads the index fields
-- from the record, so the record must live until the sweep has run.
local function markFinished(id, jobKey, nowMs, retentionMs)
  redis.call('ZREM', p .. ':active', id)
  if jobKey and redis.call('GET', jobKey) == id then redis.call('DEL', jobKey) end
  redis.call('ZADD', p .. ':finished', nowMs + retentionMs, id)
end
local function markActive(id, jobKey, score)
  redis.call('ZREM', p .. ':finished', id)
  redis.call('ZADD', p .. ':active', score, id)
  if jobKey then redis.call('SET', jobKey, id, 'NX') end
end
-- A hash from HGETALL's flat field/value list (or any such list).
local function toHash(flat, first)
  local h = {}
  for i = first or 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end
-- The event of a change (h: the task's fields), published as {"origin":"<origin>","event":{...}}.
-- The origin (a UUID) comes first, so a subscriber skips its own events without parsing them.
local function publish(kind, h, origin)
  local errorCode = cjson.null
  if h.error then
    local ok, decoded = pcall(cjson.decode, h.error)
    if ok and type(decoded) == 'table' and type(decoded.code) == 'string' then errorCode = decoded.code end
  end
  local progress = cjson.null
  if h.progress then progress = cjson.decode(h.progress) end
  local event = {
    type = kind, task_id = h.task_id, job_id = h.job_id, batch_id = h.batch_id or cjson.null,
    state = h.state, stage = h.stage or cjson.null, progress = progress, error_code = errorCode,
    at = h.updated_at,
  }
  redis.call('PUBLISH', p .. ':events', '{"origin":"' .. origin .. '","event":' .. cjson.encode(event) .. '}')
end
${INSIGHTS_LUA}`;
