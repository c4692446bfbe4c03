/**
 * Live views without reloading: each view polls the API routes it shows. The browser asks with the entity
 * tag of the answer it holds (api.ts): an unchanged answer is a 304 on the wire, and the same tag here,
 * which changes nothing on the page. An action asks every poll to look again at once (`nudge`).
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "./api.js";

export interface Polled<T> {
  data: T | null;
  /** The last failure to read (the API's message), null once a read works again. */
  error: string | null;
  /** When the last answer (changed or not) came, epoch ms. */
  at: number | null;
}

export function usePoll<T>(api: Api, path: string | null, intervalMs: number, nudge: number): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: null, error: null, at: null });
  useEffect(() => {
    if (path === null) return undefined;
    let stopped = false;
    let etag: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const look = async () => {
      try {
        const answer = await api.call<T>("GET", path);
        if (stopped) return;
        const tag = answer.headers.get("etag");
        if (tag !== null && tag === etag) {
          setState((s) => ({ ...s, error: null, at: Date.now() }));
        } else {
          etag = tag;
          setState({ data: answer.body, error: null, at: Date.now() });
        }
      } catch (e) {
        if (!stopped) setState((s) => ({ ...s, error: e instanceof Error ? e.message : String(e) }));
      }
      if (!stopped) timer = setTimeout(() => void look(), intervalMs);
    };
    void look();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, path, intervalMs, nudge]);
  return state;
}

/** The current time, ticking every second: heartbeat ages and running bars grow between answers. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}
