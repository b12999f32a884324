// The headless server on its own: token, Origin and Host checks, message validation, events
// and static files, with a fake API (no model).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startServer, type RunningServer } from '../../electron/node/server.js';
import type { RpcMessage } from '../../electron/shared/rpc.js';
import { createFakeApi } from '../renderer/fakeApi.js';

let server: RunningServer;
let rendererDir: string;
let origin: string;
let token: string;

beforeAll(async () => {
  rendererDir = mkdtempSync(join(tmpdir(), 'paramkb-renderer-'));
  mkdirSync(join(rendererDir, 'assets'));
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>ParamKB</title>');
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(tmpdir(), 'paramkb-secret.txt'), 'secret');
  server = await startServer({ api: createFakeApi({ documents: [['a.md', ['alpha passage']]] }), host: '127.0.0.1', rendererDir });
  const url = new URL(server.url);
  origin = url.origin;
  token = url.searchParams.get('token')!;
});
afterAll(async () => {
  await server.close();
  rmSync(rendererDir, { recursive: true, force: true });
});

function connect(query: string, headers: Record<string, string> = { Origin: origin }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/rpc${query}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<RpcMessage> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()) as RpcMessage)));
}

describe('headless server', () => {
  it('listens on 127.0.0.1 with a token in the page URL', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
  });

  it('refuses WebSockets without the right token, from another origin or for another host', async () => {
    await expect(connect('')).rejects.toThrow('HTTP 403');
    await expect(connect('?token=wrong')).rejects.toThrow('HTTP 403');
    await expect(connect(`?token=${token}`, { Origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(connect(`?token=${token}`, { Origin: origin, Host: 'evil.example' })).rejects.toThrow('HTTP 403');
  });

  it('answers requests, validates arguments and broadcasts events', async () => {
    const ws = await connect(`?token=${token}`);
    ws.send(JSON.stringify({ type: 'request', id: 1, method: 'search', args: ['alpha', 5] }));
    const ok = await nextMessage(ws);
    expect(ok).toMatchObject({ type: 'response', id: 1, ok: true });
    expect((ok as { value: unknown[] }).value).toHaveLength(1);

    ws.send(JSON.stringify({ type: 'request', id: 2, method: 'search', args: ['alpha', 'five'] }));
    expect(await nextMessage(ws)).toMatchObject({ id: 2, ok: false, error: { code: 'invalid-arguments', expected: true } });
    ws.send(JSON.stringify({ type: 'request', id: 3, method: 'constructor', args: [] }));
    expect(await nextMessage(ws)).toMatchObject({ id: 3, ok: false, error: { code: 'unknown-method' } });

    const event = nextMessage(ws);
    server.broadcast('documentsChanged', {});
    expect(await event).toEqual({ type: 'event', event: 'documentsChanged', payload: {} });
    ws.close();
  });

  it('drops a connection that sends anything but requests', async () => {
    const ws = await connect(`?token=${token}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('not json');
    expect(await closed).toBe(1008);
  });

  it('serves the renderer with a CSP, falls back to index.html and never leaves its folder', async () => {
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<title>ParamKB</title>');
    const asset = await fetch(`${origin}/assets/app.js`);
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    const escape = await fetch(`${origin}/..%2fparamkb-secret.txt`);
    expect(await escape.text()).not.toContain('secret');
    expect((await fetch(`${origin}/`, { method: 'POST' })).status).toBe(405);
  });
});
