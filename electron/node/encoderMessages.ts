// Messages between the engine and the encoder process (a Node child process here, an Electron
// utilityProcess in the app): unions tagged by `type`, the same over both channels.
import type { EncodingDevice } from '../shared/types.js';

export interface EncoderWorkerArgs {
  dataDir: string;
  modelPath: string;
  profilePath?: string;
  threads?: number;
  /**
   * The Encoding device setting the encoder starts with ('auto', 'cpu', a device name; one that
   * is gone falls back to 'auto', with a note); default: the knowledge base's.
   */
  device?: string;
  useGpu?: boolean;
  /**
   * Run at the lowest CPU priority, so answers come first (default true; false only where a
   * benchmark measures what it buys).
   */
  background?: boolean;
  /**
   * In the background, also move to Linux's idle scheduling class (processPriority.ts; default
   * true; false only where a benchmark measures what it buys).
   */
  idleClass?: boolean;
}

export type ToEncoder =
  | { type: 'start'; args: EncoderWorkerArgs }
  | { type: 'notify' }
  /** An answer started (true; sent for each one) or the last one running ended (false). */
  | { type: 'answering'; active: boolean }
  | { type: 'stop' };

export type FromEncoder =
  | { type: 'ready' }
  /** The device the trainer trains on: after 'ready', and again when it changes (a GPU failed and the CPU took over). */
  | { type: 'device'; device: EncodingDevice }
  | { type: 'progress'; passageId: number; step: string; progress: number }
  | { type: 'encoded'; passageId: number }
  | { type: 'idle' }
  /** Another process holds the knowledge base's encoding lock; the worker exits. */
  | { type: 'busy'; message: string }
  | { type: 'fatal'; message: string };
