// The whole surface of the native trainer addon (native/src/addon.cpp), typed, and the one
// function that loads it. The addon is C-like: an opaque handle, functions that return
// promises, progress through a callback, cancellation through a flag. Policy (defaults,
// AbortSignal, error classes) lives in LoraTrainer.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrainerError } from './trainerErrors.js';
import type { AdapterTensorType } from './LoraTrainer.js';

/** Opaque handle of a loaded base model (a napi External). */
export interface NativeTrainerHandle { readonly __nativeTrainerHandle: unique symbol }

export interface NativeSequence {
  tokens: Int32Array;
  /** Per token, 1 where the token is a loss target; absent: every token after the first. */
  lossMask?: Int32Array;
  /** Soft targets: a teacher's top-k ids and probabilities, [targets][k] row-major, in target order. */
  teacher?: { k: number; ids: Int32Array; probs: Float32Array };
}

export interface NativeAdapter { path: string; scale: number }

export interface NativeTrainParams {
  sequences: NativeSequence[];
  targets: string[];
  rank: number;
  alpha: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  epochs: number;
  batchSize: number;
  gradAccumulation: number;
  seed: number;
  shuffle: boolean;
  init?: string;
  outPath: string;
  outType: AdapterTensorType;
  exactBackward: boolean;
  distillWeight?: number;
}

export interface NativeModelInfo {
  architecture: string;
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtxTrain: number;
}

export interface NativeProgress { step: number; totalSteps: number; loss: number }

export interface NativeTrainerBinding {
  trainerCreate(modelPath: string, options: { threads: number; binsDir: string; backwardWeights?: 'q8_0' | 'q4_0' }): Promise<NativeTrainerHandle>;
  /** Releases the handle's model; a running job keeps it alive until it ends. */
  trainerFree(handle: NativeTrainerHandle): void;
  trainerInfo(handle: NativeTrainerHandle): NativeModelInfo;
  trainerTrain(handle: NativeTrainerHandle, params: NativeTrainParams, onProgress?: (p: NativeProgress) => void): Promise<{ losses: Float64Array; steps: number }>;
  /** Sets the cancel flag that the running training checks before each sequence. */
  trainerCancel(handle: NativeTrainerHandle): void;
  trainerLogits(handle: NativeTrainerHandle, tokens: Int32Array, adapters: NativeAdapter[]): Promise<Float32Array>;
  trainerLoss(handle: NativeTrainerHandle, sequences: NativeSequence[], adapters: NativeAdapter[]): Promise<number>;
  modelQuantize(inPath: string, outPath: string, type: string, threads: number): Promise<void>;
  adapterMerge(inputs: NativeAdapter[], outPath: string, outType: AdapterTensorType): Promise<void>;
  adapterLayout(path: string): Promise<'llama' | 'compact'>;
}

const ADDON_RELATIVE = join('native', 'build', 'Release', 'paramkb_trainer.node');
let binding: NativeTrainerBinding | undefined;

/** The folder holding native/ (the repo root, or the unpacked app folder when packaged). */
function findAddonPath(): string | undefined {
  if (process.env.PARAMKB_TRAINER_ADDON) return process.env.PARAMKB_TRAINER_ADDON;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const root of [dir, dir.replace(/app\.asar$/, 'app.asar.unpacked')]) {
      const candidate = join(root, ADDON_RELATIVE);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Loads the addon once; throws TrainerError('addon-missing') with the fix when it is not built. */
export function loadNativeTrainer(): NativeTrainerBinding {
  if (binding) return binding;
  const path = findAddonPath();
  if (!path) {
    throw new TrainerError('addon-missing', `The native trainer is not built (${ADDON_RELATIVE} is missing). Run "npm install" (or "npm run build") in the project folder.`);
  }
  try {
    binding = createRequire(import.meta.url)(path) as NativeTrainerBinding;
  } catch (error) {
    throw new TrainerError('addon-missing', `The native trainer at ${path} failed to load (${(error as Error).message}). Run "npm install" to rebuild it.`, { cause: error });
  }
  return binding;
}

/** The folder of node-llama-cpp's prebuilt CPU backends (libggml-cpu-*) for this platform. */
export function prebuiltBinsDir(): string {
  const id = `${process.platform}-${process.arch}`;
  try {
    const main = createRequire(import.meta.url).resolve(`@node-llama-cpp/${id}`);
    return join(dirname(dirname(main)), 'bins', id);
  } catch (error) {
    throw new TrainerError('addon-missing', `No prebuilt node-llama-cpp binary is installed for ${id} (@node-llama-cpp/${id}); the trainer needs its ggml CPU backend.`, { cause: error });
  }
}
