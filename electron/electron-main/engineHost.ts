// Main's side of the engine utility process: starts it, hands out MessagePorts to it, restarts
// it after a crash (telling every window), and shuts it down gracefully.
import { MessageChannelMain, utilityProcess, type MessagePortMain, type UtilityProcess, type WebContents } from 'electron';
import { createApiClient, isRpcMessage, type ApiClient } from '../shared/rpc.js';
import { DESKTOP_CHANNELS } from '../shared/desktop.js';
import type { ParamKbEvents } from '../shared/contract.js';
import { EncoderWorkers } from './encoderWorkers.js';
import type { EngineProcessCommand, EngineProcessReport } from './processMessages.js';

export interface EngineHostOptions {
  /** Compiled engineProcess.js. */
  entryPoint: string;
  dataDir: string;
  modelPath: string | null;
  /** Knowledge packs shipped with the app, imported once (see EngineOptions.bundledPacksDir). */
  bundledPacksDir: string | null;
}

/** More crashes than this within CRASH_WINDOW_MS stop the restarts (a crash loop). */
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 60_000;
/** How long a graceful shutdown may take before the process is killed. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

export class EngineHost {
  private child: UtilityProcess | null = null;
  private crashes: number[] = [];
  private stopping = false;
  private readonly windows = new Set<WebContents>();
  /** Main's own client of the engine (to look up a document before opening its file). */
  private mainClient: ApiClient | null = null;
  private readonly encoders = new EncoderWorkers((command) => this.post(command));

  constructor(private readonly options: EngineHostOptions) {}

  start(): void {
    const child = utilityProcess.fork(this.options.entryPoint, [], { serviceName: 'ParamKB engine', stdio: 'inherit' });
    this.child = child;
    this.post({ type: 'open', dataDir: this.options.dataDir, modelPath: this.options.modelPath, bundledPacksDir: this.options.bundledPacksDir });
    let failure: string | null = null;
    child.on('message', (report: EngineProcessReport) => {
      if (this.encoders.handle(report)) return;
      if (report.type === 'open-failed') failure = `the knowledge base could not be opened: ${report.error.message}`;
    });
    child.on('exit', (code) => {
      if (this.child !== child) return;
      this.child = null;
      this.mainClient = null;
      // The restarted engine starts its own encoder.
      this.encoders.killAll();
      if (this.stopping) return;
      this.reportCrash(failure ?? `exit code ${code}`);
      this.restart();
    });
    for (const contents of this.windows) this.sendPort(contents);
  }

  /** Gives a window a port to the engine, now and after every restart. */
  connect(contents: WebContents): void {
    if (!this.windows.has(contents)) {
      this.windows.add(contents);
      contents.once('destroyed', () => this.windows.delete(contents));
    }
    this.sendPort(contents);
  }

  /** The API as main uses it; a fresh client after a restart. */
  api(): ApiClient {
    if (!this.mainClient) {
      const port = this.newPort();
      this.mainClient = createApiClient({
        send: (message) => port.postMessage(message),
        onMessage: (handler) => port.on('message', ({ data }) => { if (isRpcMessage(data)) handler(data); }),
      });
      port.start();
    }
    return this.mainClient;
  }

  /** Lets the engine close (checkpointing its current job), killing it after a timeout. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.post({ type: 'shutdown' });
    const timer = setTimeout(() => child.kill(), SHUTDOWN_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private restart(): void {
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    if (this.crashes.length > MAX_CRASHES) {
      this.reportCrash(`it crashed ${this.crashes.length} times in a minute and was not restarted; restart ParamKB`);
      return;
    }
    setTimeout(() => this.start(), 500 * this.crashes.length);
  }

  private reportCrash(message: string): void {
    const payload: ParamKbEvents['processCrashed'] = { process: 'engine', message };
    for (const contents of this.windows) contents.send(DESKTOP_CHANNELS.processCrashed, payload);
  }

  /** One end of a new channel whose other end the engine serves. */
  private newPort(): MessagePortMain {
    const { port1, port2 } = new MessageChannelMain();
    this.post({ type: 'connect' }, [port1]);
    return port2;
  }

  private sendPort(contents: WebContents): void {
    if (this.child && !contents.isDestroyed()) contents.postMessage(DESKTOP_CHANNELS.enginePort, null, [this.newPort()]);
  }

  private post(command: EngineProcessCommand, ports: MessagePortMain[] = []): void {
    this.child?.postMessage(command, ports);
  }
}
