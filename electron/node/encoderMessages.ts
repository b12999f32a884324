// Messages between the engine and the encoder process (a Node child process here, an Electron
// utilityProcess in the app): unions tagged by `type`, the same over both channels.
export interface EncoderWorkerArgs {
  dataDir: string;
  modelPath: string;
  profilePath?: string;
  threads?: number;
  useGpu?: boolean;
  /**
   * Run at the lowest CPU priority, so answers come first (default true; false only where a
   * benchmark measures what it buys).
   */
  background?: boolean;
}

export type ToEncoder = { type: 'start'; args: EncoderWorkerArgs } | { type: 'notify' } | { type: 'stop' };

export type FromEncoder =
  | { type: 'ready' }
  | { type: 'progress'; passageId: number; step: string; progress: number }
  | { type: 'encoded'; passageId: number }
  | { type: 'idle' }
  /** Another process holds the knowledge base's encoding lock; the worker exits. */
  | { type: 'busy'; message: string }
  | { type: 'fatal'; message: string };
