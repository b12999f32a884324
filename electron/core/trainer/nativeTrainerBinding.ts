// The whole surface of the native trainer addon (native/src/addon.cpp), typed, and the one
// function that loads it. The addon is C-like: an opaque handle, functions that return
// promises, progress through a callback, cancellation through a flag. Policy (defaults,
// AbortSignal, error classes) lives in LoraTrainer.ts.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuBackendPackages, prebuiltPackageId } from '../../../scripts/native-platform.js';
import type { EncodingAvailability } from '../../shared/types.js';
import { TrainerError } from './trainerErrors.js';

/**
 * Tensor types of adapter files. 'f32', 'f16' and 'q8_0' are llama.cpp's layout; 'q4_k' and
 * 'q3_k' are the compact layout for disk (B stored transposed, both factors K-quantized; see
 * native/src/adapter_write.h), which the runtime expands before llama.cpp applies it.
 */
export const ADAPTER_TENSOR_TYPES = ['f32', 'f16', 'q8_0', 'q4_k', 'q3_k'] as const;
export type AdapterTensorType = (typeof ADAPTER_TENSOR_TYPES)[number];

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
  firstLayer?: number;
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
  /** Build the backward graph from ops every GPU backend has (always on for a GPU); for tests on the CPU. */
  portableBackward?: boolean;
}

/** A compute device as ggml reports it. */
export interface NativeDevice {
  /** ggml's name: 'CPU', 'Vulkan0', 'CUDA0'. */
  name: string;
  /** What the driver calls it, e.g. 'NVIDIA GeForce RTX 4070' or 'llvmpipe (LLVM 15.0.6, 256 bits)'. */
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accel';
  memoryFree: number;
  memoryTotal: number;
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
  /** The device the trainer computes on (its weights live there). */
  device: NativeDevice;
}

export interface NativeProgress { step: number; totalSteps: number; loss: number }

export interface NativeTrainerBinding {
  /** device: a NativeDevice name (default: the CPU); gpuBackends: GPU backend libraries to load first. */
  trainerCreate(modelPath: string, options: { threads: number; binsDir: string; backwardWeights?: 'q8_0' | 'q4_0'; device?: string; gpuBackends?: string[] }): Promise<NativeTrainerHandle>;
  /** Releases the handle's model; a running job keeps it alive until it ends. */
  trainerFree(handle: NativeTrainerHandle): void;
  trainerInfo(handle: NativeTrainerHandle): NativeModelInfo;
  /**
   * splits: the most backend splits of one sequence's graph (1: it all ran on one device);
   * graphOps: the ops of the training graphs (ggml_op_desc names: GLU and unary ops by their own name), sorted.
   * forwardCopies: the matrices the forward pass multiplied by a Q8_0 copy (CPU; native/src/forward_copies.h).
   */
  /** CPU threads of the graphs computed from now on, a running training's included. */
  trainerSetThreads(handle: NativeTrainerHandle, threads: number): void;
  /** A running training waits while paused: on the CPU after the node it is computing, on a GPU before its next sequence (trainerCancel still ends it). */
  trainerSetPaused(handle: NativeTrainerHandle, paused: boolean): void;
  trainerTrain(handle: NativeTrainerHandle, params: NativeTrainParams, onProgress?: (p: NativeProgress) => void): Promise<{ losses: Float64Array; steps: number; splits: number; graphOps: string[]; forwardCopies: number }>;
  /** Sets the cancel flag that the running training checks before each sequence. */
  trainerCancel(handle: NativeTrainerHandle): void;
  trainerLogits(handle: NativeTrainerHandle, tokens: Int32Array, adapters: NativeAdapter[]): Promise<Float32Array>;
  trainerLoss(handle: NativeTrainerHandle, sequences: NativeSequence[], adapters: NativeAdapter[]): Promise<number>;
  /** The devices ggml finds after loading the CPU backends of binsDir and the GPU backend libraries; failures: the libraries that did not load. */
  devicesList(binsDir: string, gpuBackends: string[]): Promise<{ devices: NativeDevice[]; failures: string[] }>;
  modelQuantize(inPath: string, outPath: string, type: string, threads: number): Promise<void>;
  adapterMerge(inputs: NativeAdapter[], outPath: string, outType: AdapterTensorType): Promise<void>;
  adapterLayout(path: string): Promise<'llama' | 'compact'>;
  /** Moves a thread of this process (a Linux thread id) to the idle scheduling class; false where there is none or it was refused. */
  threadSetIdleClass(tid: number): boolean;
}

const ADDON_RELATIVE = join('native', 'build', 'Release', 'paramkb_trainer.node');
/** Written by scripts/build-native.js when the addon could not be built on this machine: why, in one line. */
const BUILD_FAILURE_RELATIVE = join('native', 'build', 'trainer-unavailable.txt');
let binding: NativeTrainerBinding | undefined;

/** A file under the first parent folder that holds it: the repo root, or the unpacked app folder when packaged. */
function findUp(relative: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const root of [dir, dir.replace(/app\.asar$/, 'app.asar.unpacked')]) {
      const candidate = join(root, relative);
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Why the addon is missing: the build's own reason when it recorded one. */
function missingReason(): string {
  const override = process.env.PARAMKB_TRAINER_ADDON;
  if (override) return `PARAMKB_TRAINER_ADDON names ${override}, which does not exist.`;
  const failure = findUp(BUILD_FAILURE_RELATIVE);
  if (failure) return readFileSync(failure, 'utf8').trim();
  return `${ADDON_RELATIVE} is missing. Run "npm install" (or "npm run build") in the project folder.`;
}

/**
 * Loads the addon once; throws TrainerError('addon-missing') that says why when it is not built
 * or does not load. PARAMKB_TRAINER_ADDON names another build of the addon (a file path).
 */
export function loadNativeTrainer(): NativeTrainerBinding {
  if (binding) return binding;
  const override = process.env.PARAMKB_TRAINER_ADDON;
  const path = override ? (existsSync(override) ? override : undefined) : findUp(ADDON_RELATIVE);
  if (!path) throw new TrainerError('addon-missing', `The native trainer is not built for ${process.platform}-${process.arch}: ${missingReason()}`);
  try {
    binding = createRequire(import.meta.url)(path) as NativeTrainerBinding;
  } catch (error) {
    throw new TrainerError('addon-missing', `The native trainer at ${path} failed to load (${(error as Error).message}). Run "npm install" to rebuild it.`, { cause: error });
  }
  return binding;
}

/** The folder of node-llama-cpp's prebuilt CPU backends (libggml-cpu-*) for this platform. */
export function prebuiltBinsDir(): string {
  const id = prebuiltPackageId();
  if (!id) throw new TrainerError('addon-missing', `node-llama-cpp ships no prebuilt binaries for ${process.platform}-${process.arch}, so the trainer cannot run here.`);
  try {
    const main = createRequire(import.meta.url).resolve(`@node-llama-cpp/${id}`);
    // The backends are loaded from disk by native code: in a packaged app that is app.asar.unpacked.
    return join(dirname(dirname(main)), 'bins', id).replace(/app\.asar(?=[\\/])/, 'app.asar.unpacked');
  } catch (error) {
    throw new TrainerError('addon-missing', `No prebuilt node-llama-cpp binary is installed for ${process.platform}-${process.arch} (@node-llama-cpp/${id}); the trainer needs its ggml CPU backend.`, { cause: error });
  }
}

/**
 * The GPU backend libraries of node-llama-cpp's GPU packages installed here (CUDA, Vulkan), best
 * first; the trainer loads them next to the CPU backend. Empty where none is installed.
 */
export function gpuBackendFiles(): string[] {
  const require = createRequire(import.meta.url);
  const files: string[] = [];
  for (const { id, library } of gpuBackendPackages()) {
    try {
      const main = require.resolve(`@node-llama-cpp/${id}`);
      const file = join(dirname(dirname(main)), 'bins', id, library).replace(/app\.asar(?=[\\/])/, 'app.asar.unpacked');
      if (existsSync(file)) files.push(file);
    } catch {
      // not installed: npm skips optional packages for other systems
    }
  }
  return files;
}

/** Whether parametric encoding can run here: the addon loads and node-llama-cpp's CPU backend is installed. */
export function trainerAvailability(): EncodingAvailability {
  try {
    loadNativeTrainer();
    prebuiltBinsDir();
    return { available: true };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}
