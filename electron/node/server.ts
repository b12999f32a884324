// The headless server: the built renderer over HTTP and the API contract over a WebSocket, so
// the whole app runs in a normal browser (tests, machines without Electron). It listens on
// 127.0.0.1 only; every WebSocket must present the random token of the page URL, come from a
// page this server served (Origin) and name this server (Host, against DNS rebinding).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import type { ParamKbApi } from '../shared/contract.js';
import { dispatchRequest, isRpcMessage, type EventSink, type RpcMessage } from '../shared/rpc.js';

export interface ServerOptions {
  /** The API the browser talks to (an Engine, or a test double). */
  api: ParamKbApi;
  /** TCP port; default 0, i.e. a free port the OS picks. */
  port?: number;
  /** Always the loopback address: the API gives access to local files and the model. */
  host: '127.0.0.1';
  /** Folder of the built renderer (dist/renderer). */
  rendererDir: string;
}

export interface RunningServer {
  /** The page to open, with the access token in its query string. */
  url: string;
  /** Sends an event to every connected page; give it to the engine as its EventSink. */
  broadcast: EventSink;
  close(): Promise<void>;
}

/** The path of the WebSocket endpoint; the page connects to it with its own token. */
export const RPC_PATH = '/rpc';

/**
 * Upload batches are sent whole as base64 in one message (the contract allows up to 400 MiB per
 * file); anything larger is refused by ws before it is parsed.
 */
const MAX_MESSAGE_BYTES = 512 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The same policy as renderer/index.html's meta tag, sent as a header too. */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const token = randomBytes(24).toString('base64url');
  const rendererDir = resolve(options.rendererDir);
  const sockets = new Set<WebSocket>();

  const http = createServer((request, response) => {
    serveStatic(rendererDir, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  http.on('upgrade', (request, socket, head) => {
    if (!isAuthorizedUpgrade(request, token, boundPort())) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data, isBinary) => {
        const message = isBinary ? undefined : parseMessage(data.toString());
        // A page that sends anything but well-formed requests is not our renderer: drop it.
        if (!message || message.type !== 'request') {
          ws.close(1008, 'invalid message');
          return;
        }
        void dispatchRequest(options.api, message, (reply) => send(ws, reply));
      });
    });
  });

  await new Promise<void>((resolvePromise, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, options.host, () => {
      http.off('error', reject);
      resolvePromise();
    });
  });
  const boundPort = () => (http.address() as AddressInfo).port;

  const broadcast: EventSink = (event, payload) => {
    for (const ws of sockets) send(ws, { type: 'event', event, payload });
  };

  return {
    url: `http://${options.host}:${boundPort()}/?token=${token}`,
    broadcast,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

function send(ws: WebSocket, message: RpcMessage): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function parseMessage(text: string): RpcMessage | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRpcMessage(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isAuthorizedUpgrade(request: IncomingMessage, token: string, port: number): boolean {
  const url = new URL(request.url ?? '/', 'http://placeholder');
  if (url.pathname !== RPC_PATH) return false;
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  if (!hosts.includes(request.headers.host ?? '')) return false;
  // Browsers always send Origin on WebSocket handshakes; a missing one means a non-browser
  // client, which still needs the token.
  const origin = request.headers.origin;
  if (origin !== undefined && !hosts.some((host) => origin === `http://${host}`)) return false;
  const given = Buffer.from(url.searchParams.get('token') ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Serves files of the built renderer; unknown paths get index.html (the app routes itself). */
async function serveStatic(rendererDir: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://placeholder').pathname);
  let file = resolve(join(rendererDir, pathname));
  if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
    response.writeHead(404).end();
    return;
  }
  let info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    file = join(rendererDir, 'index.html');
    info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      response.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end('The renderer is not built: run `npm run build`.');
      return;
    }
  }
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
    // Vite puts a content hash in asset names; index.html must always be fresh.
    'Cache-Control': file.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
  });
  if (request.method === 'HEAD') response.end();
  else createReadStream(file).pipe(response);
}
