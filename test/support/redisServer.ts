// A private redis-server for tests: on 127.0.0.1, on a free port, in its own folder, never the
// machine's shared server. Debian's redis-server package provides the binary (.ci/run installs
// it); without it the tests that need Redis fail with a message that says so.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server with SIGKILL (no shutdown save) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (with append-only persistence, on the same data). */
  restart(): Promise<void>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

export function redisServerBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error('redis-server is not installed, and the distributed encoding tests need it: apt-get install redis-server (.ci/run does).');
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setTimeout(500, () => { socket.destroy(); resolve(false); });
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * @param appendOnly persist every write before acknowledging it (AOF, fsync always), so a killed
 *   and restarted server keeps everything it acknowledged. Default false (no persistence).
 */
export async function startRedisServer(options: { appendOnly?: boolean } = {}): Promise<RedisServer> {
  const binary = redisServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'paramkb-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes',
    ...(options.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  const launch = async () => {
    const started = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child = started;
    const deadline = Date.now() + 15_000;
    while (!(await answersPing(port))) {
      if (started.exitCode !== null) throw new Error(`redis-server exited with code ${started.exitCode} on port ${port}.`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 15 s.`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
