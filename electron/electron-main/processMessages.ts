// Messages between Electron main and the engine utility process (over process.parentPort),
// tagged by `type` (DESIGN §6.4). The API itself never travels here: it goes over MessagePorts
// that main hands out with 'connect', in the RpcMessage format of electron/shared/rpc.ts.
// Only main can start utility processes, so the engine asks main to start its encoder worker
// and main relays that worker's messages (encoderMessages.ts) both ways.
import type { FromEncoder, ToEncoder } from '../node/encoderMessages.js';
import type { SerializedError } from '../shared/types.js';

export type EngineProcessCommand =
  /** Opens the knowledge base; sent once, first. */
  | { type: 'open'; dataDir: string; modelPath: string | null; bundledPacksDir: string | null }
  /** Carries one MessagePort: serve the API contract on it until it closes. */
  | { type: 'connect' }
  /** Close the engine (the current job checkpoints), then exit. */
  | { type: 'shutdown' }
  | { type: 'encoder-message'; workerId: number; message: FromEncoder }
  /** The worker ended; failure is null for a clean exit. */
  | { type: 'encoder-exit'; workerId: number; failure: string | null };

export type EngineProcessReport =
  | { type: 'ready' }
  | { type: 'open-failed'; error: SerializedError }
  | { type: 'encoder-spawn'; workerId: number }
  | { type: 'encoder-send'; workerId: number; message: ToEncoder }
  | { type: 'encoder-kill'; workerId: number };
