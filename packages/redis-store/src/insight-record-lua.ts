import { TASK_SORT_FIELDS, TASK_STATES } from '@ncr-upload/core';
import { BUCKET_RETENTION_MS, DURATION_BOUNDS_MS, TIMED_STAGES } from '@ncr-upload/core/internal';

/* The console entries of a task write, in Lua: key layout in insight-scripts.ts. */

const SORT_LIST = `{${TASK_SORT_FIELDS.map((field) => `'${field}'`).join(', ')}}`;
const TIMED = `{${TIMED_STAGES.map((stage) => `['${stage}'] = true`).join(', ')}}`;
const STATE_ORDER = `{${TASK_STATES.map((state, index) => `['${state}'] = ${index}`).join(', ')}}`;
const DURATION_BOUNDS = `{${DURATION_BOUNDS_MS.join(', ')}}`;

/**
 * Lua of the console indexes, run inside the status store's own scripts
 * (status-scripts.ts), so a task write and its console entries are one script
 * call. Expects `p` (the prefix) and `isActive` in scope. Defines
 * `recordInsights(id, r)`; `r` is built by `insightsOfCreate` (the values the
 * store computed from the new record) or `insightsOfHash` (the task hash after
 * an update).
 */
export const INSIGHTS_LUA = `
local CX_SORT = ${SORT_LIST}
local CX_TIMED = ${TIMED}
local CX_STATE_ORDER = ${STATE_ORDER}
local CX_DURATION_BOUNDS = ${DURATION_BOUNDS}
-- Weight of the primary value in combined scores (2^43), as in task-sort.ts.
local CX_TIE = 8796093022208
local CX_MINUTE_TTL, CX_HOUR_TTL = ${BUCKET_RETENTION_MS.minute}, ${BUCKET_RETENTION_MS.hour}
-- Scores are integers below 2^53: written in full, never in exponent form.
local function cxNumber(value) return string.format('%d', value) end
-- Milliseconds of an ISO time as toISOString writes it (YYYY-MM-DDTHH:MM:SS.sssZ), 0 when absent or other.
local function cxMs(iso)
  if not iso then return 0 end
  local y, mo, d, h, mi, s, frac = string.match(iso, '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$')
  if not y then return 0 end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  local millis = 0
  if frac ~= '' then millis = tonumber(string.sub(frac .. '00', 1, 3)) end
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + millis
end
-- textScore of task-sort.ts for ASCII text (the store passes its own score where the text comes from a client).
local function cxTextScore(text)
  local value = string.lower(text or '')
  local score = 0
  for i = 1, 6 do
    local code = 0
    if i <= #value then code = math.min(255, string.byte(value, i) + 1) end
    score = score * 256 + code
  end
  return score
end
local function cxDurationSlot(durationMs)
  for i, bound in ipairs(CX_DURATION_BOUNDS) do
    if durationMs <= bound then return i - 1 end
  end
  return #CX_DURATION_BOUNDS
end
local function cxForget(id)
  local lastKey = p .. ':cx:last:' .. id
  local f = redis.call('HMGET', lastKey, 'state', 'worker', 'lex')
  for _, field in ipairs(CX_SORT) do redis.call('ZREM', p .. ':cx:sort:' .. field, id) end
  -- cx:st:<state> was the state filter before the store's idx:state:<state> took its place:
  -- entries written then drain here.
  if f[1] then redis.call('ZREM', p .. ':cx:st:' .. f[1], id) end
  if f[2] and f[2] ~= '' then redis.call('ZREM', p .. ':cx:wk:' .. f[2], id) end
  if f[3] then
    for _, value in ipairs(cjson.decode(f[3])) do redis.call('ZREM', p .. ':cx:lex', value .. '\\0' .. id) end
  end
  redis.call('DEL', lastKey, p .. ':cx:tl:' .. id)
  redis.call('ZREM', p .. ':cx:expire', id)
end
-- The console entries of a new task, from the values the store computed (ARGV from index \`first\`):
-- stage, worker, at, atMs, files_done, files_total, bytes_done, bytes_total, error code, error
-- message, duration slot (-1: none), result size, minute key, hour key, created ms, lex values
-- JSON, then one score per sort column.
local function insightsOfCreate(state, attempt, retention, first)
  local a = function(i) return ARGV[first + i] end
  local r = { state = state, attempt = attempt, stage = a(0), worker = a(1), at = a(2), atMs = tonumber(a(3)),
    fd = a(4), ft = a(5), bd = a(6), bt = a(7), errCode = a(8), errMsg = a(9), slot = tonumber(a(10)),
    size = tonumber(a(11)), mKey = a(12), hKey = a(13), retention = retention, created = a(14), lex = a(15),
    scores = {} }
  for i, field in ipairs(CX_SORT) do r.scores[field] = a(15 + i) end
  return r
end
-- The console entries of an updated task, from its hash \`h\` after the write. workerScore: the
-- store's score of the worker when the write set it, else ''.
local function insightsOfHash(h, at, atMs, mKey, hKey, retention, workerScore)
  local progress = { files_done = 0, files_total = 0, bytes_done = 0, bytes_total = 0 }
  if h.progress then progress = cjson.decode(h.progress) end
  local errCode, errMsg = '', ''
  if h.error then
    local ok, decoded = pcall(cjson.decode, h.error)
    if ok and type(decoded) == 'table' then
      errCode = type(decoded.code) == 'string' and decoded.code or ''
      errMsg = type(decoded.message) == 'string' and decoded.message or ''
    end
  end
  local size = 0
  if h.result then
    local ok, decoded = pcall(cjson.decode, h.result)
    if ok and type(decoded) == 'table' and type(decoded.size) == 'number' then size = decoded.size end
  end
  local created = cxMs(h.created_at)
  if created == 0 then created = math.floor(tonumber(h._score or '0') / 1000) end
  local started, finished = cxMs(h.started_at), cxMs(h.finished_at)
  local attempts = tonumber(h.attempts or '0')
  local duration = 0
  if started > 0 and finished >= started then duration = finished - started end
  local slot = -1
  if h.started_at and h.finished_at then slot = cxDurationSlot(finished - started) end
  if workerScore == '' then workerScore = cxNumber(cxTextScore(h.worker)) end
  local r = { state = h.state, attempt = h.attempts or '0', stage = h.stage or '', worker = h.worker or '',
    at = at, atMs = atMs, fd = progress.files_done, ft = progress.files_total, bd = progress.bytes_done,
    bt = progress.bytes_total, errCode = errCode, errMsg = errMsg, slot = slot, size = size, mKey = mKey,
    hKey = hKey, retention = retention, created = cxNumber(created),
    -- Never change after the create (which scored the text exactly): kept as recorded then.
    fixed = { created_at = true, job_id = true, username = true, campaign = true },
    scores = {
      created_at = cxNumber(created), started_at = cxNumber(started), finished_at = cxNumber(finished),
      duration = cxNumber(duration), attempts = cxNumber(math.min(attempts, 1000) * CX_TIE + created),
      size = cxNumber(size), state = cxNumber((CX_STATE_ORDER[h.state] or 0) * CX_TIE + created),
      worker = workerScore,
    } }
  -- The fixed columns and the search entries, needed only when the task has no console entries
  -- yet (recordInsights calls this then): an update of a recorded task skips their work.
  r.unrecorded = function()
    local lexSet, lex = {}, {}
    for _, value in ipairs({ h.job_id or '', h._username or '', h._campaign or '' }) do
      local lower = string.lower(value)
      if not lexSet[lower] then lexSet[lower] = true; lex[#lex + 1] = lower end
    end
    r.lex = cjson.encode(lex)
    r.scores.job_id = cxNumber(cxTextScore(h.job_id))
    r.scores.username = cxNumber(cxTextScore(h._username))
    r.scores.campaign = cxNumber(cxTextScore(h._campaign))
  end
  return r
end
-- Record a write of a task: spans, sort and filter sets, metric buckets, worker stats, expiry.
local function recordInsights(id, r)
  local state, stage, attempt, worker, at, atMs = r.state, r.stage, r.attempt, r.worker, r.at, r.atMs
  local slot, size, mKey, hKey, retention, created = r.slot, r.size, r.mKey, r.hKey, r.retention, r.created
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
      redis.call('PEXPIRE', mKey, CX_MINUTE_TTL)
      redis.call('PEXPIRE', hKey, CX_HOUR_TTL)
    end
  end
  local function atLeast(old, new)
    return math.max(tonumber(old) or 0, tonumber(new) or 0)
  end
  local raw = redis.call('HGETALL', lastKey)
  local last = {}
  for i = 1, #raw, 2 do last[raw[i]] = raw[i + 1] end
  local existed = last.state ~= nil
  if not existed then
    bump('c:created', 1)
    if r.unrecorded then r.unrecorded() end
  end
  local changed = (not existed) or last.state ~= state or last.stage ~= stage or last.attempt ~= attempt
  if not changed then
    redis.call('HSET', lastKey,
      'files_done', atLeast(last.files_done, r.fd), 'files_total', r.ft,
      'bytes_done', atLeast(last.bytes_done, r.bd), 'bytes_total', r.bt)
    expireBuckets()
    return
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
      files_done = atLeast(last.files_done, r.fd), files_total = atLeast(last.files_total, r.ft),
      bytes_done = atLeast(last.bytes_done, r.bd), bytes_total = atLeast(last.bytes_total, r.bt),
      error = lastError }))
    if last.state == 'running' and CX_TIMED[last.stage] then
      bump('sm:' .. last.stage, math.max(0, atMs - tonumber(last.started_ms)))
      bump('sn:' .. last.stage, 1)
    end
  end
  local fields = {'state', state, 'stage', stage, 'attempt', attempt, 'span_worker', worker,
    'started_at', at, 'started_ms', atMs, 'files_done', r.fd, 'files_total', r.ft,
    'bytes_done', r.bd, 'bytes_total', r.bt, 'err_code', r.errCode, 'err_msg', r.errMsg, 'worker', worker}
  -- Sort columns: only the scores that moved (the last one of each is kept in the hash).
  for _, field in ipairs(CX_SORT) do
    local score = r.scores[field]
    if last['s:' .. field] ~= score and not (existed and r.fixed and r.fixed[field]) then
      redis.call('ZADD', p .. ':cx:sort:' .. field, score, id)
      fields[#fields + 1] = 's:' .. field
      fields[#fields + 1] = score
    end
  end
  if not existed then
    local entries = {}
    for _, value in ipairs(cjson.decode(r.lex)) do
      entries[#entries + 1] = 0
      entries[#entries + 1] = value .. '\\0' .. id
    end
    if #entries > 0 then redis.call('ZADD', p .. ':cx:lex', unpack(entries)) end
    fields[#fields + 1] = 'lex'
    fields[#fields + 1] = r.lex
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
  -- The worker filter, only when the worker moved. (The state filter is the store's own
  -- idx:state:<state> index, kept by its scripts.)
  if (not existed) or (last.worker or '') ~= worker then
    if existed and last.worker and last.worker ~= '' then redis.call('ZREM', p .. ':cx:wk:' .. last.worker, id) end
    if worker ~= '' then redis.call('ZADD', p .. ':cx:wk:' .. worker, created, id) end
  end
  if terminal then
    redis.call('ZADD', p .. ':cx:expire', atMs + retention, id)
  elseif existed and not isActive(last.state) then
    redis.call('ZREM', p .. ':cx:expire', id)
  end
  -- Entries join cx:expire only as tasks finish: forgetting due ones then (and on every create) keeps up.
  if terminal or not existed then
    local due = redis.call('ZRANGEBYSCORE', p .. ':cx:expire', '-inf', atMs, 'LIMIT', 0, 20)
    for _, old in ipairs(due) do cxForget(old) end
  end
end
`;
