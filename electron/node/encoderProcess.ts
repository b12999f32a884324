// Runs the encoder in a worker process: a Node child process for the headless server, an
// Electron utilityProcess in the app (the engine process asks main to start one; see
// electron-main/encoderWorkers.ts). Both run encoderWorker.js with the same messages. A crashed
// encoder is reported and started again after a delay; the queue in SQLite makes it resume
// where it died.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Engine, EncoderControl } from '../core/engine.js';
import { encoderThreadsOf } from '../core/settingsStore.js';
import type { EncoderWorkerArgs, FromEncoder, ToEncoder } from './encoderMessages.js';

/** The compiled worker script, for whoever starts the process. */
export const ENCODER_WORKER = fileURLToPath(new URL('./encoderWorker.js', import.meta.url));
const RESTART_DELAYS_MS = [1_000, 5_000, 30_000];
/**
 * While another process holds the knowledge base's encoding lock (e.g. the encoder of a server
 * that is still stopping, or `paramkb encode`), a start is tried again after these delays.
 */
const BUSY_RETRY_DELAYS_MS = [3_000, 30_000];

/** One running encoder worker process, whatever started it. */
export interface EncoderWorkerHandle {
  send(message: ToEncoder): void;
  onMessage(handler: (message: FromEncoder) => void): void;
  /** Called once when the process ends; `failure` is null for a clean exit. */
  onExit(handler: (failure: string | null) => void): void;
  kill(): void;
}

/** Starts encoderWorker.js as a Node child process. */
export function forkEncoderWorker(): EncoderWorkerHandle {
  const child = fork(ENCODER_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  return {
    send: (message) => { if (child.connected) child.send(message); },
    onMessage: (handler) => child.on('message', (raw) => handler(raw as FromEncoder)),
    onExit: (handler) => child.once('exit', (code, signal) => handler(code === 0 && signal === null ? null : signal ?? `exit code ${code}`)),
    kill: () => child.kill('SIGKILL'),
  };
}

export function startEncoderProcess(
  engine: Engine,
  emitCrash: (message: string) => void,
  spawnWorker: () => EncoderWorkerHandle = forkEncoderWorker,
  workerArgs: Pick<EncoderWorkerArgs, 'background' | 'idleClass'> = {},
): EncoderControl {
  let child: EncoderWorkerHandle | null = null;
  let childExited: Promise<void> = Promise.resolve();
  let modelPath: string | null = null;
  let threads: number | undefined;
  let device: string | undefined;
  let stopping = false;
  let crashes = 0;
  let busyRetries = 0;
  let restartTimer: NodeJS.Timeout | null = null;

  const start = () => {
    const model = engine.loadedModelPath();
    modelPath = model;
    const settings = engine.settings.get();
    threads = encoderThreadsOf(settings);
    device = settings.encoderDevice;
    if (!model || stopping) return;
    const worker = spawnWorker();
    child = worker;
    let busy = false;
    worker.onMessage((message) => {
      if (message.type === 'ready') { crashes = 0; busyRetries = 0; engine.setEncoderBlocked(null); }
      // Only the current encoder's: one being replaced trains nowhere that matters any more.
      if (message.type === 'device' && child === worker) engine.setEncoderDevice(message.device);
      if (message.type === 'encoded') engine.emit('documentsChanged', {});
      if (message.type === 'fatal') emitCrash(`The encoder stopped: ${message.message}`);
      if (message.type === 'busy') { busy = true; engine.setEncoderBlocked(`${message.message} Encoding continues here once it stops.`); }
      engine.emitQueue();
    });
    childExited = new Promise((resolve) => worker.onExit((failure) => {
      resolve();
      if (child === worker) {
        child = null;
        engine.setEncoderDevice(null);
      }
      if (stopping) return;
      if (busy) {
        restartTimer = setTimeout(start, BUSY_RETRY_DELAYS_MS[Math.min(busyRetries, BUSY_RETRY_DELAYS_MS.length - 1)]!);
        busyRetries++;
        return;
      }
      if (failure === null) return;
      const delay = RESTART_DELAYS_MS[Math.min(crashes, RESTART_DELAYS_MS.length - 1)]!;
      crashes++;
      emitCrash(`The encoder process stopped (${failure}); restarting in ${delay / 1000} s. Encoding resumes where it stopped.`);
      restartTimer = setTimeout(start, delay);
    }));
    worker.send({ type: 'start', args: { dataDir: engine.dataDir, modelPath: model, profilePath: engine.options.profilePath, threads, device, useGpu: engine.options.useGpu, ...workerArgs } });
  };

  start();
  return {
    notify: () => {
      // A new model, thread count or device needs a new encoder; otherwise the running one just
      // looks at the queue again.
      const settings = engine.settings.get();
      if (engine.loadedModelPath() !== modelPath || encoderThreadsOf(settings) !== threads || settings.encoderDevice !== device) {
        const old = child;
        child = null;
        engine.setEncoderDevice(null);
        old?.send({ type: 'stop' });
        start();
      } else child?.send({ type: 'notify' });
    },
    answering: (active) => child?.send({ type: 'answering', active }),
    close: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const worker = child;
      if (!worker) return;
      const timer = setTimeout(() => worker.kill(), 10_000);
      worker.send({ type: 'stop' });
      await childExited;
      clearTimeout(timer);
    },
  };
}
