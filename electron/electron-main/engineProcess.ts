// The engine utility process (DESIGN §2): database, retrieval and inference, away from main so
// that a native crash (a failed GGML_ASSERT aborts the process) never takes the window down.
// Main sends 'open' once, then one 'connect' with a MessagePort per client (each window, and
// main itself); every port gets the API contract and all events. The encoder runs in its own
// utility process, which main starts for us (see encoderWorkers.ts).
import type { MessagePortMain } from 'electron';
import { Engine } from '../core/engine.js';
import type { FromEncoder } from '../node/encoderMessages.js';
import { startEncoderProcess, type EncoderWorkerHandle } from '../node/encoderProcess.js';
import { serializeError } from '../shared/errors.js';
import { dispatchRequest, isRpcMessage, type EventSink, type RpcMessage } from '../shared/rpc.js';
import type { EngineProcessCommand, EngineProcessReport } from './processMessages.js';

const parentPort = process.parentPort;
const ports = new Set<MessagePortMain>();
let engine: Promise<Engine> | null = null;

const report = (message: EngineProcessReport) => parentPort.postMessage(message);

/** Encoder workers that main runs for us, by id: where their messages and exit go. */
const encoderWorkers = new Map<number, { message(message: FromEncoder): void; exit(failure: string | null): void }>();
let nextWorkerId = 1;

/** An encoder worker as startEncoderProcess sees it, relayed through main. */
function spawnEncoderViaMain(): EncoderWorkerHandle {
  const workerId = nextWorkerId++;
  const messageHandlers: ((message: FromEncoder) => void)[] = [];
  let exitHandler: (failure: string | null) => void = () => undefined;
  encoderWorkers.set(workerId, {
    message: (message) => messageHandlers.forEach((handler) => handler(message)),
    exit: (failure) => {
      encoderWorkers.delete(workerId);
      exitHandler(failure);
    },
  });
  report({ type: 'encoder-spawn', workerId });
  return {
    send: (message) => report({ type: 'encoder-send', workerId, message }),
    onMessage: (handler) => void messageHandlers.push(handler),
    onExit: (handler) => { exitHandler = handler; },
    kill: () => report({ type: 'encoder-kill', workerId }),
  };
}

const broadcast: EventSink = (event, payload) => {
  const message: RpcMessage = { type: 'event', event, payload };
  for (const port of ports) port.postMessage(message);
};

function serve(port: MessagePortMain, opened: Promise<Engine>): void {
  ports.add(port);
  port.on('message', ({ data }) => {
    // Ports come only from main, but what arrives on them comes from a renderer: check it all.
    if (!isRpcMessage(data) || data.type !== 'request') return;
    void opened.then(
      (api) => dispatchRequest(api, data, (reply) => port.postMessage(reply)),
      (error: unknown) => port.postMessage({ type: 'response', id: data.id, ok: false, error: serializeError(error) }),
    );
  });
  port.on('close', () => ports.delete(port));
  port.start();
}

parentPort.on('message', ({ data, ports: transferred }) => {
  const command = data as EngineProcessCommand;
  switch (command.type) {
    case 'open':
      if (engine) return;
      engine = Engine.open({
        dataDir: command.dataDir,
        modelPath: command.modelPath ?? undefined,
        bundledPacksDir: command.bundledPacksDir ?? undefined,
        events: broadcast,
        createEncoder: (opened) => startEncoderProcess(opened, (message) => broadcast('processCrashed', { process: 'encoder', message }), spawnEncoderViaMain),
      });
      engine.then(() => report({ type: 'ready' }), (error: unknown) => {
        // Main restarts a process that exits, and tells the windows why.
        report({ type: 'open-failed', error: serializeError(error) });
        process.exit(1);
      });
      return;
    case 'connect': {
      const [port] = transferred;
      if (port && engine) serve(port, engine);
      return;
    }
    case 'encoder-message':
      encoderWorkers.get(command.workerId)?.message(command.message);
      return;
    case 'encoder-exit':
      encoderWorkers.get(command.workerId)?.exit(command.failure);
      return;
    case 'shutdown':
      void (async () => {
        try {
          await (await engine)?.close();
        } finally {
          process.exit(0);
        }
      })();
      return;
  }
});
