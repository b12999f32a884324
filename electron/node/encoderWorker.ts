// Entry of the encoder process: loads the model and the trainer once, then runs the encoding
// queue whenever told that there is work, until told to stop or until the process that started
// it goes away (then it puts its job back and exits, so a killed server leaves no encoder
// behind). A crash here (a failed ggml assertion aborts the whole process) never takes the
// engine or the UI down; the queue lives in SQLite, so the next encoder process resumes where
// this one died.
import { EncoderBusyError } from '../core/encoding/encoderLock.js';
import { openEncodingSession, type EncodingSession } from '../core/encoding/encodingSession.js';
import type { FromEncoder, ToEncoder } from './encoderMessages.js';
import { runInBackground } from './processPriority.js';

/** How often the worker checks that its parent process still exists. */
const PARENT_CHECK_MS = 2_000;

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
  // A Node child loses its channel when the parent dies: that is the signal to stop.
  process.once('disconnect', () => void stop());
  return { send: (m) => { if (process.connected) process.send!(m); }, onMessage: (h) => process.on('message', (m) => h(m as ToEncoder)) };
}

/** True while the process that started this one runs (its pid stays our parent's). */
function parentAlive(parentPid: number): boolean {
  if (process.ppid !== parentPid) return false; // re-parented: the parent died
  try {
    process.kill(parentPid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const channel = parentChannel();
let session: EncodingSession | null = null;
let running: Promise<void> | null = null;
let again = false;
const stopController = new AbortController();
/** The engine's last 'answering' message, applied to the encoder once it is loaded. */
let answering = false;

/** Saves the trainer's device as the last one used, and tells the engine when it changed. */
function reportDevice(): void {
  const changed = session?.reportDevice();
  if (changed) channel.send({ type: 'device', device: changed });
}

function runQueue(): void {
  if (!session || stopController.signal.aborted) return;
  if (running) { again = true; return; }
  const current = session;
  running = (async () => {
    do {
      again = false;
      await current.encoder.runQueue({
        signal: stopController.signal,
        onEncoded: (e) => {
          channel.send({ type: 'encoded', passageId: e.passageId });
          reportDevice();
        },
      });
    } while (again && !stopController.signal.aborted);
    channel.send({ type: 'idle' });
  })().catch((error: unknown) => channel.send({ type: 'fatal', message: (error as Error).message })).finally(() => { running = null; });
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopController.abort();
  await running?.catch(() => undefined);
  await session?.close();
  process.exit(0);
}

channel.onMessage((message) => {
  switch (message.type) {
    case 'start':
      // Before the model and the trainer start their threads, which inherit the priority.
      if (message.args.background !== false) runInBackground({ idleClass: message.args.idleClass });
      openEncodingSession({
        ...message.args,
        deviceIsSetting: true,
        onProgress: (p) => {
          channel.send({ type: 'progress', passageId: p.job.passageId, step: p.step, progress: p.progress });
          // A job that failed for good may have moved the trainer off a failing GPU as well.
          if (p.step === 'failed') reportDevice();
        },
      }).then((s) => {
        session = s;
        if (answering) s.encoder.pauseForAnswers(true);
        channel.send({ type: 'ready' });
        // The session saved it once loaded: report that one.
        channel.send({ type: 'device', device: s.device() });
        runQueue();
      }).catch((error: unknown) => {
        // Another process encodes this knowledge base: not a crash, the host tries again later.
        if (error instanceof EncoderBusyError) {
          channel.send({ type: 'busy', message: error.message });
          process.exit(0);
        }
        channel.send({ type: 'fatal', message: (error as Error).message });
        process.exit(1);
      });
      break;
    case 'notify': runQueue(); break;
    case 'answering':
      answering = message.active;
      session?.encoder.pauseForAnswers(message.active);
      break;
    case 'stop': void stop(); break;
  }
});
process.on('SIGTERM', () => void stop());
// Also covers Electron's utility processes, which have no IPC channel to lose.
const parentPid = process.ppid;
setInterval(() => { if (!parentAlive(parentPid)) void stop(); }, PARENT_CHECK_MS).unref();
