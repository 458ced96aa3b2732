import type { TaskEvent } from '@ncr-upload/core';
import { duplicateClient, endClient, type RedisClient } from './redis-client.js';

/** A published event of this store: anything else on the channel is ignored. */
function isTaskEvent(value: unknown): value is TaskEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Partial<TaskEvent>;
  return (
    (event.type === 'task.created' || event.type === 'task.updated') &&
    typeof event.task_id === 'string' &&
    typeof event.state === 'string'
  );
}

/** The store's pub/sub channel: other instances' events delivered to this instance's listeners. */
export interface StatusEventChannel {
  /** Subscribe to the channel, once (on the first `subscribe()` of the store). */
  listen(): void;
  /** Stop: an owned subscriber quits; a given one stops delivering here and unsubscribes. */
  close(): Promise<void>;
}

export interface StatusEventChannelOptions {
  /** The store's client, duplicated for SUBSCRIBE unless `subscriber` is given. */
  client: RedisClient;
  /** A client for SUBSCRIBE, never closed here. */
  subscriber: RedisClient | undefined;
  /** The channel (`<prefix>:events`). */
  channel: string;
  /** This store instance's id: its own messages were delivered already, right after the write. */
  origin: string;
  listeners: Set<(event: TaskEvent) => void>;
  dispatch: (event: TaskEvent) => void;
}

export function createStatusEventChannel(options: StatusEventChannelOptions): StatusEventChannel {
  const { client, channel, listeners, dispatch } = options;
  let subscriber: RedisClient | null = null;
  let ownsSubscriber = false;

  /** How this store's own messages start: they were delivered already, right after the write. */
  const ownPrefix = `{"origin":"${options.origin}"`;

  function onMessage(from: string, raw: string): void {
    if (from !== channel || listeners.size === 0 || raw.startsWith(ownPrefix)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return; // Not ours: ignore.
    }
    const event = (parsed as { event?: unknown } | null)?.event;
    if (typeof (parsed as { origin?: unknown } | null)?.origin === 'string' && isTaskEvent(event)) {
      dispatch(event);
    }
  }

  return {
    listen(): void {
      if (subscriber) return;
      ownsSubscriber = !options.subscriber;
      subscriber = options.subscriber ?? duplicateClient(client, { lazyConnect: false });
      subscriber.on('message', onMessage);
      if (ownsSubscriber) subscriber.on('error', () => undefined);
      subscriber.subscribe(channel).catch(() => undefined);
    },

    async close(): Promise<void> {
      const current = subscriber;
      subscriber = null;
      if (current) {
        if (ownsSubscriber) await endClient(current);
        else {
          current.off('message', onMessage);
          // A given subscriber that is not connected has nothing to unsubscribe (and would queue it).
          if (current.status === 'ready') await current.unsubscribe(channel).catch(() => undefined);
        }
      }
    },
  };
}
