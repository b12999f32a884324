// Everything parametric encoding needs, loaded once: its own database connection, the base
// model for augmentation (several sequences, so rewrite and QA generation run in one batch),
// and the native trainer. The encoder process and `paramkb encode` both open one, and only one
// process at a time can (encoderLock.ts); `paramkb worker` loads the same encoder model without
// a knowledge base.
import { availableParallelism } from 'node:os';
import { openDatabase, type Db } from '../database/database.js';
import { LlmRuntime } from '../llm/llmRuntime.js';
import { databasePath } from '../paths.js';
import { encoderThreadsOf, SettingsStore } from '../settingsStore.js';
import { LoraTrainer } from '../trainer/LoraTrainer.js';
import { acquireEncoderLock } from './encoderLock.js';
import { JobQueue } from './jobQueue.js';
import { DEFAULT_ENCODING_CONFIG, PassageEncoder, type EncodeProgress, type EncodingConfig } from './passageEncoder.js';

export interface EncoderModelOptions {
  modelPath: string;
  profilePath?: string;
  /** Default: all cores. */
  threads?: number;
  useGpu?: boolean;
  /** Passages augmented together in one batch (the runtime gets two sequences per passage). Default 1. */
  augmentBatch?: number;
}

/** The base model loaded for encoding: the runtime (tokenizer, templates, augmentation) and the trainer. */
export interface EncoderModel {
  runtime: LlmRuntime;
  trainer: LoraTrainer;
  dispose(): Promise<void>;
}

export async function loadEncoderModel(options: EncoderModelOptions): Promise<EncoderModel> {
  const threads = options.threads ?? availableParallelism();
  const runtime = await LlmRuntime.load({
    modelPath: options.modelPath, profilePath: options.profilePath, threads, useGpu: options.useGpu,
    sequences: 2 * Math.max(1, options.augmentBatch ?? 1), contextSize: 2048,
  });
  try {
    const trainer = await LoraTrainer.create(options.modelPath, { threads });
    return {
      runtime, trainer,
      dispose: async () => {
        trainer.dispose();
        await runtime.dispose();
      },
    };
  } catch (error) {
    await runtime.dispose();
    throw error;
  }
}

/** The hyperparameters of new adapters: the defaults, then the knowledge base's settings, then overrides. */
export function encodingConfigOf(db: Db, dataDir: string, overrides: Partial<EncodingConfig> = {}): EncodingConfig {
  const settings = new SettingsStore(db, dataDir).get();
  return {
    ...DEFAULT_ENCODING_CONFIG,
    rank: settings.rank, alpha: settings.alpha, lr: settings.learningRate, epochs: settings.epochs,
    ...overrides,
  };
}

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
  try {
    db = openDatabase(databasePath(options.dataDir));
    const config = encodingConfigOf(db, options.dataDir, options.config);
    const threads = options.threads ?? encoderThreadsOf(new SettingsStore(db, options.dataDir).get()) ?? availableParallelism();
    const model = await loadEncoderModel({ ...options, threads, augmentBatch: config.augmentBatch });
    const jobs = new JobQueue(db);
    const encoder = new PassageEncoder(db, jobs, model.runtime, model.trainer, options.dataDir, config, options.onProgress);
    const opened = db;
    return {
      db, jobs, encoder, runtime: model.runtime,
      close: async () => {
        await model.dispose();
        opened.close();
        lock.release();
      },
    };
  } catch (error) {
    db?.close();
    lock.release();
    throw error;
  }
}
