// Entry of the encoder process: loads the model and the trainer once, then runs the encoding
// queue whenever told that there is work, until told to stop. A crash here (a failed ggml
// assertion aborts the whole process) never takes the engine or the UI down; the queue lives
// in SQLite, so the next encoder process resumes where this one died.
import { openEncodingSession, type EncodingSession } from '../core/encoding/encodingSession.js';
import type { FromEncoder, ToEncoder } from './encoderMessages.js';

interface Channel {
  send(message: FromEncoder): void;
  onMessage(handler: (message: ToEncoder) => void): void;
}

/** Electron's utilityProcess has process.parentPort; a Node child process has process.send. */
function parentChannel(): Channel {
  const parentPort = (process as unknown as { parentPort?: { postMessage(m: unknown): void; on(e: 'message', h: (e: { data: unknown }) => void): void } }).parentPort;
  if (parentPort) {
    return { send: (m) => parentPort.postMessage(m), onMessage: (h) => parentPort.on('message', (e) => h(e.data as ToEncoder)) };
  }
  if (!process.send) throw new Error('encoderWorker must run as a child process with an IPC channel.');
  return { send: (m) => process.send!(m), onMessage: (h) => process.on('message', (m) => h(m as ToEncoder)) };
}

const channel = parentChannel();
let session: EncodingSession | null = null;
let running: Promise<void> | null = null;
let again = false;
const stopController = new AbortController();

function runQueue(): void {
  if (!session || stopController.signal.aborted) return;
  if (running) { again = true; return; }
  const current = session;
  running = (async () => {
    do {
      again = false;
      await current.encoder.runQueue({ signal: stopController.signal, onEncoded: (e) => channel.send({ type: 'encoded', passageId: e.passageId }) });
    } while (again && !stopController.signal.aborted);
    channel.send({ type: 'idle' });
  })().catch((error: unknown) => channel.send({ type: 'fatal', message: (error as Error).message })).finally(() => { running = null; });
}

async function stop(): Promise<void> {
  stopController.abort();
  await running?.catch(() => undefined);
  await session?.close();
  process.exit(0);
}

channel.onMessage((message) => {
  switch (message.type) {
    case 'start':
      openEncodingSession({
        ...message.args,
        onProgress: (p) => channel.send({ type: 'progress', passageId: p.job.passageId, step: p.step, progress: p.progress }),
      }).then((s) => {
        session = s;
        channel.send({ type: 'ready' });
        runQueue();
      }).catch((error: unknown) => {
        channel.send({ type: 'fatal', message: (error as Error).message });
        process.exit(1);
      });
      break;
    case 'notify': runQueue(); break;
    case 'stop': void stop(); break;
  }
});
process.on('SIGTERM', () => void stop());
