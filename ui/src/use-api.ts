// Loading one API answer into a page: the answer, the error, and a reload for after a change or an
// event. A newer load wins over an older one that answers late.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  reload(): void;
}

export function useApi<T>(path: string | undefined): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const generation = useRef(0);
  const load = useCallback(() => {
    if (path === undefined) return;
    const mine = ++generation.current;
    setLoading(true);
    api<T>('GET', path).then(
      (answer) => {
        if (mine !== generation.current) return;
        setData(answer);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(err instanceof Error ? err : new Error(String(err)));
        setLoading(false);
      },
    );
  }, [path]);
  useEffect(load, [load]);
  return { data, error, loading, reload: load };
}

/**
 * Live updates from GET /api/v1/events (Server-Sent Events, same origin, the session cookie):
 * `onEvent` runs for each named event; at most one call per `throttleMs`, so a fleet reporting at
 * once does not reload a page a thousand times a second. While the stream is down, `onEvent('poll')`
 * runs every `pollWhenOfflineMs` instead.
 */
export function useEvents(kinds: readonly string[], onEvent: (kind: string, data: unknown) => void, throttleMs = 500, pollWhenOfflineMs = 5000): boolean {
  const [connected, setConnected] = useState(false);
  const latest = useRef(onEvent);
  latest.current = onEvent;
  const key = kinds.join(',');
  useEffect(() => {
    if (typeof EventSource === 'undefined') return undefined;
    const source = new EventSource('/api/v1/events', { withCredentials: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last: { kind: string; data: unknown } | undefined;
    const fire = () => {
      timer = undefined;
      if (last !== undefined) latest.current(last.kind, last.data);
      last = undefined;
    };
    const listener = (kind: string) => (event: MessageEvent<string>) => {
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        data = undefined;
      }
      last = { kind, data };
      if (timer === undefined) timer = setTimeout(fire, throttleMs);
    };
    const listeners = key.split(',').map((kind) => [kind, listener(kind)] as const);
    for (const [kind, handle] of listeners) source.addEventListener(kind, handle as EventListener);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    return () => {
      if (timer !== undefined) clearTimeout(timer);
      source.close();
    };
  }, [key, throttleMs]);
  // Without the stream (a Director without /api/v1/events, or a proxy that cuts it), poll instead.
  useEffect(() => {
    if (connected || pollWhenOfflineMs <= 0) return undefined;
    const timer = setInterval(() => latest.current('poll', undefined), pollWhenOfflineMs);
    return () => clearInterval(timer);
  }, [connected, pollWhenOfflineMs]);
  return connected;
}
