// Everything parametric encoding needs, loaded once: its own database connection, the base
// model for augmentation (several sequences, so rewrite and QA generation run in one batch),
// and the native trainer. The encoder process and `paramkb encode` both open one, and only one
// process at a time can (encoderLock.ts); `paramkb worker` loads the same encoder model without
// a knowledge base.
import { availableParallelism } from 'node:os';
import { sameEncodingDevice } from '../../shared/devices.js';
import type { EncodingDevice } from '../../shared/types.js';
import { openDatabase, type Db } from '../database/database.js';
import { LlmRuntime } from '../llm/llmRuntime.js';
import { databasePath } from '../paths.js';
import { encoderThreadsOf, SettingsStore } from '../settingsStore.js';
import { LoraTrainer } from '../trainer/LoraTrainer.js';
import { acquireEncoderLock } from './encoderLock.js';
import { JobQueue } from './jobQueue.js';
import { DEFAULT_ENCODING_CONFIG, encoderThreadsFor, PassageEncoder, type EncodeProgress, type EncodingConfig } from './passageEncoder.js';

export interface EncoderModelOptions {
  modelPath: string;
  profilePath?: string;
  /** Default: all cores. */
  threads?: number;
  useGpu?: boolean;
  /** Passages augmented together in one batch (the runtime gets two sequences per passage). Default 1. */
  augmentBatch?: number;
  /** Threads of the runtime, which augments (the trainer has `threads`). Default `threads`. */
  augmentThreads?: number;
  /** Where the trainer trains: 'auto', 'cpu' or a device name (LoraTrainer.create). Default 'auto'. */
  device?: string;
  /**
   * When `device` names a device this computer does not have: train where 'auto' picks and say
   * so in the device's note (for a saved setting, which may name a GPU that is gone) instead of
   * failing (for a device asked for by name for this run). Default false.
   */
  missingDeviceFallsBack?: boolean;
}

/** The base model loaded for encoding: the runtime (tokenizer, templates, augmentation) and the trainer. */
export interface EncoderModel {
  runtime: LlmRuntime;
  trainer: LoraTrainer;
  /** The device the trainer trains on now (it can move to the CPU after a GPU failure). */
  device(): EncodingDevice;
  dispose(): Promise<void>;
}

/** The device a trainer trains on, as the encoder reports it. */
function encodingDeviceOf(trainer: LoraTrainer): EncodingDevice {
  const { name, description, type } = trainer.device;
  return { name, description, gpu: type === 'gpu' || type === 'igpu', note: trainer.deviceNote };
}

export async function loadEncoderModel(options: EncoderModelOptions): Promise<EncoderModel> {
  const threads = options.threads ?? availableParallelism();
  const runtime = await LlmRuntime.load({
    modelPath: options.modelPath, profilePath: options.profilePath, threads: options.augmentThreads ?? threads, useGpu: options.useGpu,
    sequences: 2 * Math.max(1, options.augmentBatch ?? 1), contextSize: 2048, flashAttention: 'gpu',
  });
  try {
    const trainer = await LoraTrainer.create(options.modelPath, { threads, device: options.device, missingDeviceFallsBack: options.missingDeviceFallsBack });
    return {
      runtime, trainer,
      device: () => encodingDeviceOf(trainer),
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
  /**
   * Of `threads`, those that augment the next passages while one trains (EncoderThreads).
   * Default encoderThreadsFor's half; equal to `threads`, augmentation and training take turns.
   */
  augmentThreads?: number;
  /**
   * Where to train: 'auto', 'cpu' or a device name; one this computer lacks fails. Default: the
   * knowledge base's Encoding device setting, which falls back to 'auto', with a note, when it
   * names a device that is gone.
   */
  device?: string;
  /** `device` is the Encoding device setting's value (the app's encoder): it falls back as the default does. Default false. */
  deviceIsSetting?: boolean;
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
  /** The device the trainer trains on now. */
  device(): EncodingDevice;
  /**
   * Saves the device in the knowledge base as the last one used (paramkb status shows it; the
   * session saves it once loaded) and returns it when it differs from the one saved before by
   * this session (the trainer moved to the CPU after a GPU failure), else null. Call after jobs.
   */
  reportDevice(): EncodingDevice | null;
  close(): Promise<void>;
}

export async function openEncodingSession(options: EncodingSessionOptions): Promise<EncodingSession> {
  // Before anything is loaded: a second encoder of the same knowledge base is refused at once.
  const lock = acquireEncoderLock(options.dataDir);
  let db: Db | null = null;
  let model: EncoderModel | null = null;
  try {
    db = openDatabase(databasePath(options.dataDir));
    const config = encodingConfigOf(db, options.dataDir, options.config);
    const settingsStore = new SettingsStore(db, options.dataDir);
    const settings = settingsStore.get();
    const total = options.threads ?? encoderThreadsOf(settings) ?? availableParallelism();
    const threads = options.augmentThreads === undefined ? encoderThreadsFor(total) : { total, augmentation: Math.min(total, options.augmentThreads) };
    model = await loadEncoderModel({
      ...options, threads: threads.total, augmentThreads: threads.augmentation, augmentBatch: config.augmentBatch,
      device: options.device ?? settings.encoderDevice, missingDeviceFallsBack: options.device === undefined || options.deviceIsSetting === true,
    });
    const jobs = new JobQueue(db);
    const encoder = new PassageEncoder(db, jobs, model.runtime, model.trainer, options.dataDir, config, threads, options.onProgress);
    const opened = db;
    const loaded = model;
    let reported: EncodingDevice | null = null;
    const reportDevice = () => {
      const device = loaded.device();
      settingsStore.setLastEncodingDevice(device);
      const changed = reported === null || !sameEncodingDevice(reported, device);
      reported = device;
      return changed ? device : null;
    };
    reportDevice();
    return {
      db, jobs, encoder, runtime: loaded.runtime,
      device: loaded.device,
      reportDevice,
      close: async () => {
        await loaded.dispose();
        opened.close();
        lock.release();
      },
    };
  } catch (error) {
    await model?.dispose().catch(() => undefined);
    db?.close();
    lock.release();
    throw error;
  }
}
