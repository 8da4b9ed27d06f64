import { startTransition, useEffect, useReducer, useRef, useState } from 'react';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { EMPTY, reduce, type LiveMessage, type LiveState } from './reducer';

const EVENTS = ['snapshot', 'call', 'ended', 'employee'] as const;
/** how long to wait before reconnecting after the stream was lost */
const RETRY_MS = 1000;

/**
 * The live view's stream (GET /live/events, Server-Sent Events). EventSource cannot send the
 * bearer token, so each connection asks for a one-minute link first (POST /live/link); after a
 * lost stream it reconnects with the last sequence number it applied (`since`), and the server
 * answers with what was missed or a fresh snapshot. `lost` is true while it is disconnected.
 */
export function useLive(): { state: LiveState; lost: boolean } {
  const [state, dispatch] = useReducer(reduce, EMPTY);
  const [lost, setLost] = useState(false);
  const seq = useRef<number | null>(null);

  useEffect(() => {
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const lose = () => {
      source?.close();
      source = null;
      if (stopped) return;
      setLost(true);
      clearTimeout(retry);
      retry = setTimeout(() => void connect(), RETRY_MS);
    };

    const connect = async () => {
      try {
        const link = await unwrap(api.POST('/api/v1/live/link'));
        if (stopped) return;
        const url = new URL(link.url, globalThis.location.origin);
        if (seq.current !== null) url.searchParams.set('since', String(seq.current));
        const opened = new EventSource(url);
        source = opened;
        for (const kind of EVENTS) {
          opened.addEventListener(kind, (event: MessageEvent<string>) => {
            const message = JSON.parse(event.data) as LiveMessage;
            if (message.type === 'snapshot' || seq.current === null || message.seq > seq.current) {
              seq.current = message.seq;
            }
            // A transition: a burst of events (300 calls starting) is drawn once, not once per
            // event; React drops the renders a newer event makes stale.
            startTransition(() => dispatch(message));
            setLost(false);
          });
        }
        // the switch is not reachable: the API says so and ends the stream
        opened.addEventListener('unavailable', lose);
        // the browser's own retry would reuse the expired link: this hook reconnects instead
        opened.onerror = lose;
      } catch {
        lose();
      }
    };

    void connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, []);

  return { state, lost };
}
