// `paramkb serve` / `npm run serve`: the engine and the headless server in one Node process.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../core/engine.js';
import type { EventSink } from '../shared/rpc.js';
import { startEncoderProcess } from './encoderProcess.js';
import { startServer } from './server.js';

export interface ServeOptions {
  dataDir: string;
  /** GGUF model to load at start; default: the model the data folder last used, if any. */
  modelPath?: string;
  /** TCP port on 127.0.0.1; default 0, a free port. */
  port?: number;
  /** Folder of the built renderer; default dist/renderer of this package. */
  rendererDir?: string;
  /**
   * Runs the encoding queue in a worker process (compiled encoderWorker.js, so from dist/ only).
   * Default true.
   */
  encoder?: boolean;
}

export interface ServeHandle {
  /** The page to open in a browser, token included. */
  url: string;
  /** Stops accepting connections, then closes the engine (it checkpoints its current job). */
  close(): Promise<void>;
}

export async function runServe(options: ServeOptions): Promise<ServeHandle> {
  // The engine needs its event sink before the server (which needs the engine) exists; events
  // emitted while opening reach nobody, as no page can be connected yet.
  let broadcast: EventSink = () => {};
  const engine = await Engine.open({
    dataDir: options.dataDir,
    modelPath: options.modelPath,
    events: (event, payload) => broadcast(event, payload),
    createEncoder: options.encoder === false ? undefined
      : (opened) => startEncoderProcess(opened, (message) => broadcast('processCrashed', { process: 'encoder', message })),
  });
  try {
    const server = await startServer({
      api: engine,
      port: options.port,
      host: '127.0.0.1',
      rendererDir: options.rendererDir ?? defaultRendererDir(),
    });
    broadcast = server.broadcast;
    return {
      url: server.url,
      close: async () => {
        await server.close();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}

/** dist/renderer of the package this file belongs to, from source (tests) or from dist/. */
function defaultRendererDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('serve: cannot find the package root to locate dist/renderer.');
    dir = parent;
  }
  return join(dir, 'dist', 'renderer');
}
