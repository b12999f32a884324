// Everything parametric encoding needs, loaded once: its own database connection, the base
// model for augmentation (several sequences, so rewrite and QA generation run in one batch),
// and the native trainer. The encoder process and `paramkb encode` both open one, and only one
// process at a time can (encoderLock.ts).
import { availableParallelism } from 'node:os';
import { openDatabase, type Db } from '../database/database.js';
import { LlmRuntime } from '../llm/llmRuntime.js';
import { databasePath } from '../paths.js';
import { encoderThreadsOf, SettingsStore } from '../settingsStore.js';
import { LoraTrainer } from '../trainer/LoraTrainer.js';
import { acquireEncoderLock } from './encoderLock.js';
import { JobQueue } from './jobQueue.js';
import { DEFAULT_ENCODING_CONFIG, PassageEncoder, type EncodeProgress, type EncodingConfig } from './passageEncoder.js';

export interface EncodingSessionOptions {
  dataDir: string;
  modelPath: string;
  profilePath?: string;
  /** Default: the knowledge base's Encoder threads setting, else its Threads, else all cores. */
  threads?: number;
  /** Overrides of the hyperparameters; the rest come from the knowledge base's settings. */
  config?: Partial<EncodingConfig>;
  useGpu?: boolean;
  onProgress?: (p: EncodeProgress) => void;
}

export interface EncodingSession {
  db: Db;
  jobs: JobQueue;
  encoder: PassageEncoder;
  runtime: LlmRuntime;
  close(): Promise<void>;
}

export async function openEncodingSession(options: EncodingSessionOptions): Promise<EncodingSession> {
  // Before anything is loaded: a second encoder of the same knowledge base is refused at once.
  const lock = acquireEncoderLock(options.dataDir);
  let db: Db | null = null;
  let runtime: LlmRuntime | null = null;
  try {
    db = openDatabase(databasePath(options.dataDir));
    const settings = new SettingsStore(db, options.dataDir).get();
    const threads = options.threads ?? encoderThreadsOf(settings) ?? availableParallelism();
    const config: EncodingConfig = {
      ...DEFAULT_ENCODING_CONFIG,
      rank: settings.rank, alpha: settings.alpha, lr: settings.learningRate, epochs: settings.epochs,
      ...options.config,
    };
    runtime = await LlmRuntime.load({
      modelPath: options.modelPath, profilePath: options.profilePath, threads, useGpu: options.useGpu,
      sequences: 2 * Math.max(1, config.augmentBatch), contextSize: 2048,
    });
    const trainer = await LoraTrainer.create(options.modelPath, { threads });
    const jobs = new JobQueue(db);
    const encoder = new PassageEncoder(db, jobs, runtime, trainer, options.dataDir, config, options.onProgress);
    const loaded = runtime;
    const opened = db;
    return {
      db, jobs, encoder, runtime: loaded,
      close: async () => {
        trainer.dispose();
        await loaded.dispose();
        opened.close();
        lock.release();
      },
    };
  } catch (error) {
    await runtime?.dispose();
    db?.close();
    lock.release();
    throw error;
  }
}
