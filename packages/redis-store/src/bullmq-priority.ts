import type { Queue } from 'bullmq';
import type { RedisClient } from './redis-client.js';

/** BullMQ runs the lowest number first, 1..2^21; ours runs the highest first, default 0 in the middle. */
const PRIORITY_MIDDLE = 1_048_576;
const PRIORITY_MAX = 2_097_152;
export const toBullPriority = (priority = 0) =>
  Math.min(PRIORITY_MAX, Math.max(1, PRIORITY_MIDDLE - Math.round(priority)));

/** At most this many distinct priorities are counted (a console view, not an export). */
const PRIORITY_BANDS = 64;

/**
 * Waiting jobs per BullMQ priority in one round trip, without reading every job:
 * the prioritized set scores each job `priority * 2^32 + counter`, so each
 * priority is one band of scores. Walks the bands from the lowest (runs first):
 * the first score of the next band, then a ZCOUNT of it. Plain waiting and
 * paused lists hold jobs without a priority (band 0).
 */
const WAITING_BY_PRIORITY = `
local out = {}
local unprioritized = redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
if unprioritized > 0 then out[#out + 1] = 0; out[#out + 1] = unprioritized end
local from = '-inf'
for _ = 1, tonumber(ARGV[1]) do
  local first = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first == 0 then break end
  local band = math.floor(tonumber(first[2]) / 4294967296)
  local upper = string.format('%.0f', (band + 1) * 4294967296)
  out[#out + 1] = band
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], string.format('%.0f', band * 4294967296), '(' .. upper)
  from = upper
end
return out
`;

/** Waiting jobs per priority (ours), highest first; see WAITING_BY_PRIORITY. */
export async function waitingByPriority(queue: Queue): Promise<{ priority: number; waiting: number }[]> {
  const client = await queue.client;
  const reply = (await (client as unknown as RedisClient).eval(
    WAITING_BY_PRIORITY,
    3,
    queue.toKey('prioritized'),
    queue.toKey('wait'),
    queue.toKey('paused'),
    PRIORITY_BANDS,
  )) as number[];
  const byPriority = new Map<number, number>();
  for (let index = 0; index + 1 < reply.length; index += 2) {
    const band = Number(reply[index]);
    // BullMQ's priority 0 (a job added without one, never by us) runs first: count it as ours 0.
    const priority = band === 0 ? 0 : PRIORITY_MIDDLE - band;
    byPriority.set(priority, (byPriority.get(priority) ?? 0) + Number(reply[index + 1]));
  }
  return [...byPriority]
    .filter(([, waiting]) => waiting > 0)
    .map(([priority, waiting]) => ({ priority, waiting }))
    .sort((a, b) => b.priority - a.priority);
}
