// The headless server's transport: the contract over a WebSocket to the page's own origin,
// authenticated by the token the server put in the page URL.
import { isRpcMessage, type RpcMessage, type RpcTransport } from '../../electron/shared/rpc.js';

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface WebSocketTransport extends RpcTransport {
  onStateChange(handler: (state: ConnectionState) => void): void;
}

/** Messages sent before the socket opens are queued and flushed on open. */
export function createWebSocketTransport(url: string): WebSocketTransport {
  const socket = new WebSocket(url);
  const queue: string[] = [];
  const messageHandlers: ((message: RpcMessage) => void)[] = [];
  const stateHandlers: ((state: ConnectionState) => void)[] = [];
  const setState = (state: ConnectionState) => stateHandlers.forEach((h) => h(state));

  socket.addEventListener('open', () => {
    for (const text of queue.splice(0)) socket.send(text);
    setState('open');
  });
  socket.addEventListener('close', () => setState('closed'));
  socket.addEventListener('message', (event) => {
    if (typeof event.data !== 'string') return;
    let value: unknown;
    try {
      value = JSON.parse(event.data);
    } catch {
      return;
    }
    if (isRpcMessage(value)) for (const handler of messageHandlers) handler(value);
  });

  return {
    send(message) {
      const text = JSON.stringify(message);
      if (socket.readyState === WebSocket.OPEN) socket.send(text);
      else if (socket.readyState === WebSocket.CONNECTING) queue.push(text);
      else throw new Error('The connection to the ParamKB server is closed. Restart `paramkb serve` and reload the page.');
    },
    onMessage: (handler) => void messageHandlers.push(handler),
    onStateChange: (handler) => void stateHandlers.push(handler),
  };
}

/** The RPC endpoint of the server that served this page, with the page's token. */
export function rpcUrlFromPage(location: Location): string | null {
  const token = new URLSearchParams(location.search).get('token');
  if (!token) return null;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/rpc?token=${encodeURIComponent(token)}`;
}
