// Parametric encoding's engine: a LoRA trainer over a frozen GGUF base model (DESIGN §3). The
// native addon does the math; this class holds the policy: option defaults, validation that
// gives actionable messages, AbortSignal, typed errors, and one job at a time per model.
import { statSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { chooseTrainerDevice, type TrainerDeviceRequest } from './trainerDevice.js';
import {
  gpuBackendFiles, loadNativeTrainer, prebuiltBinsDir,
  type NativeAdapter, type NativeDevice, type NativeModelInfo, type NativeSequence, type NativeTrainParams, type NativeTrainerBinding, type NativeTrainerHandle,
  ADAPTER_TENSOR_TYPES, type AdapterTensorType,
} from './nativeTrainerBinding.js';
import { InvalidTrainingInputError, TrainerDeviceError, TrainerError, TrainerOutOfMemoryError, TrainingCancelledError, toTrainerError } from './trainerErrors.js';

/** Longest sequence the trainer takes (attention memory grows with its square); = TRAINER_MAX_TOKENS in native/src/trainer.h. */
export const MAX_SEQUENCE_TOKENS = 4096;

/** The matrices a LoRA can adapt, per layer. */
export const LORA_TARGETS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

// The adapter vocabulary belongs to the binding (it is what the addon writes); re-exported here
// as part of the trainer's API.
export { ADAPTER_TENSOR_TYPES, type AdapterTensorType };

export interface TrainerCreateOptions {
  /** CPU threads for training and evaluation. Default: the number of logical CPUs. */
  threads?: number;
  /**
   * Type of the transposed copies of quantized base weights that carry gradients backwards
   * (built at the first training; native/src/backward_weights.h). 'q8_0': ~1.06 bytes per
   * weight, gradients close to exact. 'q4_0': half the memory and, on x86 with AVX2, the
   * CPU backend's repacked GEMM, so faster; coarser gradients. Default 'q8_0'.
   */
  backwardWeights?: 'q8_0' | 'q4_0';
  /**
   * Where to train: 'auto' (the first real GPU with room for the model, else the CPU), 'cpu',
   * or a device name that `LoraTrainer.devices()` lists ('CUDA0', 'Vulkan0'). GPUs come from
   * node-llama-cpp's CUDA and Vulkan packages. Default 'auto', or 'cpu' when the environment
   * has PARAMKB_GPU=0 (which keeps answering off the GPU too).
   */
  device?: TrainerDeviceRequest;
  /** A `device` name this computer lacks: train where 'auto' picks, with a note, instead of failing. Default false. */
  missingDeviceFallsBack?: boolean;
}

export interface TokenSequence {
  /** Token ids (from the base model's tokenizer), at least 2, at most min(model context, MAX_SEQUENCE_TOKENS). */
  tokens: number[];
  /**
   * Per token, 1 where the token is a target of the next-token loss, 0 where it is not (e.g.
   * a prompt). Same length as tokens; the first entry is ignored (nothing predicts token 0).
   * Default: every token is a target (the paper's "loss on all tokens").
   */
  lossMask?: number[];
  /**
   * Soft targets (context distillation): for each loss target, in order, a teacher's top-k
   * token ids and their probabilities, row-major [targets][k]. The label of a target is then
   * mixed from the teacher's distribution and the next token (TrainOptions.distillWeight).
   * Default: the next token alone.
   */
  teacher?: { k: number; ids: Int32Array; probs: Float32Array };
}

export interface AdapterRef {
  /** A GGUF LoRA adapter file for this base model. */
  path: string;
  /** llama.cpp's adapter scale; the effective factor is scale * alpha / rank. Default 1. */
  scale?: number;
}

export interface TrainProgress { step: number; totalSteps: number; loss: number }

export interface TrainOptions {
  sequences: TokenSequence[];
  /** LoRA rank r. Default 2 (the paper's). */
  rank?: number;
  /**
   * The lowest layer that gets a LoRA; the layers below get none, and the backward pass stops
   * above them. Fresh adapters only (an `init` adapter keeps its layers). Default 0: every layer.
   */
  firstLayer?: number;
  /** LoRA alpha; the update is (alpha / r) * B A as in PEFT and llama.cpp. Default 32. */
  alpha?: number;
  /** Matrices to adapt in every layer. Default ['ffn_gate', 'ffn_up', 'ffn_down']. */
  targets?: LoraTarget[];
  /** AdamW learning rate. Default 3e-4. */
  lr?: number;
  /** AdamW decoupled weight decay (torch's default). Default 0.01. */
  weightDecay?: number;
  /**
   * AdamW's epsilon (torch's default). Default 1e-8. Its first steps move each weight by about
   * lr · sign(gradient) wherever |gradient| ≫ eps; a larger eps makes them proportional to the
   * gradient (the tests that compare two ways of computing the gradients use that).
   */
  eps?: number;
  /** Passes over the sequences. Default 1. */
  epochs?: number;
  /** Sequences per micro-batch. Default 1 (the paper's). */
  batchSize?: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradAccumulation?: number;
  /** Seeds the random init of A and the per-epoch shuffle; same seed, same adapter. Default 0. */
  seed?: number;
  /** Shuffle the sequences each epoch (with the seed). Default true. */
  shuffle?: boolean;
  /** An adapter file to start from (e.g. a warm-up LoRA); its rank and alpha win. Default: random init (A ~ Kaiming-uniform, B = 0). */
  init?: string;
  /** Where to write the GGUF adapter (via a temporary file in the same folder, then renamed). */
  outPath: string;
  /**
   * Tensor types of the written adapter (ADAPTER_TENSOR_TYPES). 'q8_0' stores lora_a as Q8_0 and
   * lora_b as F16 (its rows are `rank` long, shorter than a Q8_0 block). Default 'f32'.
   */
  outType?: AdapterTensorType;
  /**
   * Build the backward graph from ops every GPU backend has (out_prods become mul_mats; always
   * on for a GPU). On the CPU it gives the same gradients, more slowly: for tests.
   */
  portableBackward?: boolean;
  /**
   * Back-propagate through quantized/F16 base weights exactly (ggml's out_prod) instead of
   * through transposed Q8_0 copies made at the first training (see native/src/backward_weights.h).
   * Exact is far slower on real models; the forward pass and reported losses are exact either
   * way. Default false.
   */
  exactBackward?: boolean;
  /**
   * For sequences with a teacher: the weight of the teacher's distribution in each target's
   * label, against the one-hot next token (1: pure distillation, 0: next-token loss). Default 1.
   */
  distillWeight?: number;
  /** Aborts training before its next sequence; the promise rejects with TrainingCancelledError. */
  signal?: AbortSignal;
  /** Called after each optimizer step with the step's mean per-token loss. */
  onProgress?: (progress: TrainProgress) => void;
}

export interface TrainResult {
  /** Mean per-token NLL of each optimizer step, computed before that step's update. */
  losses: number[];
  steps: number;
  /** The most backend splits of one sequence's graph: 1 when it all ran on the trainer's device. */
  splits: number;
  /** The ops of the training graphs (ggml's names, e.g. MUL_MAT, SOFT_MAX, SWIGLU), sorted: what a device must run. */
  graphOps: string[];
  /**
   * Matrices the training forward pass multiplied by a Q8_0 copy, on the CPU: those whose type
   * (Q6_K, Q5_K, Q3_K, Q2_K) has a slower GEMM than Q8_0 (native/src/forward_copies.h). 0 on a GPU.
   */
  forwardCopies: number;
  seconds: number;
  outPath: string;
}

export type ModelInfo = NativeModelInfo;

function checkInt(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidTrainingInputError(`${name} must be an integer in [${min}, ${max}], got ${value}.`);
  return value;
}

function checkNumber(name: string, value: number, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) throw new InvalidTrainingInputError(`${name} ${rule}, got ${value}.`);
  return value;
}

type NativeCreateOptions = Parameters<NativeTrainerBinding['trainerCreate']>[1];

export class LoraTrainer {
  private handle: NativeTrainerHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private info_: ModelInfo;
  private deviceNote_: string | null;
  /** The last setPaused, applied again to the trainer that takes over on the CPU. */
  private paused = false;

  private constructor(private readonly native: NativeTrainerBinding, handle: NativeTrainerHandle, readonly modelPath: string,
    private readonly createOptions: NativeCreateOptions, deviceNote: string | null) {
    this.handle = handle;
    this.info_ = native.trainerInfo(handle);
    this.deviceNote_ = deviceNote;
  }

  /** The compute devices the trainer can use here (the CPU, and the GPUs of node-llama-cpp's CUDA and Vulkan packages). */
  static async devices(): Promise<{ devices: NativeDevice[]; failures: string[] }> {
    try {
      return await loadNativeTrainer().devicesList(prebuiltBinsDir(), gpuBackendFiles());
    } catch (error) {
      throw toTrainerError(error);
    }
  }

  /** Loads the base model (once; every train/loss/logits call reuses it) on the device that `options.device` picks. */
  static async create(modelPath: string, options: TrainerCreateOptions = {}): Promise<LoraTrainer> {
    const native = loadNativeTrainer();
    const threads = options.threads ?? cpus().length;
    checkInt('threads', threads, 1, 1024);
    if (typeof modelPath !== 'string' || modelPath === '') throw new InvalidTrainingInputError('modelPath must be a file path.');
    const request = options.device ?? (process.env.PARAMKB_GPU === '0' ? 'cpu' : 'auto');
    if (typeof request !== 'string' || request === '') throw new InvalidTrainingInputError(`device must be 'auto', 'cpu' or a device name.`);
    try {
      const backwardWeights = options.backwardWeights ?? 'q8_0';
      if (backwardWeights !== 'q8_0' && backwardWeights !== 'q4_0') throw new InvalidTrainingInputError(`backwardWeights must be 'q8_0' or 'q4_0'.`);
      const binsDir = prebuiltBinsDir();
      const gpuBackends = request.toLowerCase() === 'cpu' ? [] : gpuBackendFiles();
      let choice = { device: 'CPU', note: null as string | null };
      if (gpuBackends.length > 0) {
        const { devices } = await native.devicesList(binsDir, gpuBackends);
        let modelBytes = 0;
        try { modelBytes = statSync(modelPath).size; } catch { /* the addon says what is wrong with the path */ }
        choice = chooseTrainerDevice(devices, request, modelBytes, options.missingDeviceFallsBack);
      } else if (request !== 'auto' && request.toLowerCase() !== 'cpu' && !options.missingDeviceFallsBack) {
        throw new InvalidTrainingInputError(`There is no compute device named '${request}': no GPU package of node-llama-cpp (CUDA, Vulkan) is installed for ${process.platform}-${process.arch}.`);
      }
      const cpuOptions: NativeCreateOptions = { threads, binsDir, backwardWeights, device: 'CPU' };
      if (choice.device === 'CPU') return new LoraTrainer(native, await native.trainerCreate(modelPath, cpuOptions), modelPath, cpuOptions, choice.note);
      const gpuOptions: NativeCreateOptions = { ...cpuOptions, device: choice.device, gpuBackends };
      try {
        return new LoraTrainer(native, await native.trainerCreate(modelPath, gpuOptions), modelPath, cpuOptions, null);
      } catch (error) {
        const typed = toTrainerError(error);
        // Chosen by 'auto' (asked for, or instead of a missing device): a GPU that cannot hold or
        // run the model leaves the work to the CPU.
        if (choice.device === request || !(typed instanceof TrainerDeviceError || typed instanceof TrainerOutOfMemoryError)) throw typed;
        const note = `Encoding runs on the CPU: ${choice.device} could not load the model (${typed.message})`;
        return new LoraTrainer(native, await native.trainerCreate(modelPath, cpuOptions), modelPath, cpuOptions, note);
      }
    } catch (error) {
      throw toTrainerError(error);
    }
  }

  /**
   * Sets the CPU threads of everything computed from now on, a training already running
   * included (from its next sequence): the encoder trains on fewer while the next passages'
   * augmentation decodes beside it, and gives them back when it ends.
   */
  setThreads(threads: number): void {
    checkInt('threads', threads, 1, 1024);
    this.native.trainerSetThreads(this.liveHandle(), threads);
  }

  /**
   * Pauses a training that runs, or the next one, until `setPaused(false)`: on the CPU after the
   * graph node it is computing, on a GPU before its next sequence. The encoder leaves the CPU to
   * an answer meanwhile. An abort still ends a paused training; dispose resumes it.
   */
  setPaused(paused: boolean): void {
    if (typeof paused !== 'boolean') throw new InvalidTrainingInputError('paused must be true or false.');
    this.native.trainerSetPaused(this.liveHandle(), paused);
    this.paused = paused;
  }

  /** The base model's shape. */
  get info(): ModelInfo {
    return this.info_;
  }

  /** The device the trainer computes on; `type` 'cpu' for the CPU. */
  get device(): NativeDevice {
    return this.info_.device;
  }

  /** Why the trainer is on the CPU although a GPU is present (too little memory, a GPU failure), else null. */
  get deviceNote(): string | null {
    return this.deviceNote_;
  }

  /** Trains a fresh (or `init`) LoRA on the sequences and writes it to `outPath`. */
  async train(options: TrainOptions): Promise<TrainResult> {
    this.liveHandle();  // a disposed trainer says so before anything else
    const sequences = this.toNativeSequences(options.sequences);
    const targets = options.targets ?? ['ffn_gate', 'ffn_up', 'ffn_down'];
    if (!Array.isArray(targets) || targets.length === 0) throw new InvalidTrainingInputError('targets must list at least one matrix.');
    for (const t of targets) {
      if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new InvalidTrainingInputError(`Unknown LoRA target '${t}'; use one of ${LORA_TARGETS.join(', ')}.`);
    }
    if (typeof options.outPath !== 'string' || options.outPath === '') throw new InvalidTrainingInputError('outPath must be a file path.');
    const params: NativeTrainParams = {
      sequences,
      targets: [...targets],
      rank: checkInt('rank', options.rank ?? 2, 1, Math.min(4096, this.info.nEmbd)),
      firstLayer: checkInt('firstLayer', options.firstLayer ?? 0, 0, this.info.nLayer - 1),
      alpha: checkNumber('alpha', options.alpha ?? 32, (v) => v >= 0, 'must be >= 0'),
      lr: checkNumber('lr', options.lr ?? 3e-4, (v) => v > 0 && v <= 1, 'must be in (0, 1]'),
      beta1: 0.9,
      beta2: 0.999,
      eps: checkNumber('eps', options.eps ?? 1e-8, (v) => v >= 0, 'must be >= 0'),
      weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0.01, (v) => v >= 0 && v <= 1, 'must be in [0, 1]'),
      epochs: checkInt('epochs', options.epochs ?? 1, 1, 1_000_000),
      batchSize: checkInt('batchSize', options.batchSize ?? 1, 1, 1_000_000),
      gradAccumulation: checkInt('gradAccumulation', options.gradAccumulation ?? 1, 1, 1_000_000),
      seed: checkInt('seed', options.seed ?? 0, 0, 0xffffffff),
      shuffle: options.shuffle ?? true,
      init: options.init,
      outPath: options.outPath,
      outType: options.outType ?? 'f32',
      exactBackward: options.exactBackward ?? false,
      portableBackward: options.portableBackward ?? false,
      distillWeight: checkNumber('distillWeight', options.distillWeight ?? 1, (v) => v >= 0 && v <= 1, 'must be in [0, 1]'),
    };
    if (!ADAPTER_TENSOR_TYPES.includes(params.outType)) throw new InvalidTrainingInputError(`outType must be one of ${ADAPTER_TENSOR_TYPES.join(', ')}.`);
    const { signal, onProgress } = options;
    return this.enqueue(async () => {
      const started = performance.now();
      const progress = onProgress ? (p: TrainProgress) => { if (!signal?.aborted) onProgress(p); } : undefined;
      let result;
      try {
        result = await this.trainOn(this.liveHandle(), params, signal, progress);
      } catch (error) {
        const typed = toTrainerError(error);
        if (!(typed instanceof TrainerDeviceError) || this.device.type === 'cpu') throw typed;
        // The GPU failed mid-job (a driver error, its memory taken by another program): the
        // CPU takes over for this job and every later one, so no job is lost.
        await this.moveToCpu(typed.message);
        result = await this.trainOn(this.liveHandle(), params, signal, progress);
      }
      return { losses: Array.from(result.losses), steps: result.steps, splits: result.splits, graphOps: result.graphOps, forwardCopies: result.forwardCopies, seconds: (performance.now() - started) / 1000, outPath: params.outPath };
    });
  }

  private async trainOn(handle: NativeTrainerHandle, params: NativeTrainParams, signal: AbortSignal | undefined, progress: ((p: TrainProgress) => void) | undefined) {
    if (signal?.aborted) throw new TrainingCancelledError();
    const onAbort = () => this.native.trainerCancel(handle);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.native.trainerTrain(handle, params, progress);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async moveToCpu(why: string): Promise<void> {
    const from = this.device.name;
    const handle = await this.native.trainerCreate(this.modelPath, this.createOptions);
    if (this.handle) this.native.trainerFree(this.handle);
    this.handle = handle;
    if (this.paused) this.native.trainerSetPaused(handle, true);
    this.info_ = this.native.trainerInfo(handle);
    this.deviceNote_ = `Encoding moved to the CPU after ${from} failed: ${why}`;
  }

  /** Mean per-token negative log-likelihood of the sequences' loss tokens, with the adapters applied. */
  async loss(sequences: TokenSequence[], adapters: AdapterRef[] = []): Promise<number> {
    const handle = this.liveHandle();
    const native = this.toNativeSequences(sequences);
    const refs = this.toNativeAdapters(adapters);
    return this.enqueue(() => this.native.trainerLoss(handle, native, refs));
  }

  /** Logits of every position, row-major n_tokens x n_vocab, with the adapters applied. */
  async logits(tokens: number[], adapters: AdapterRef[] = []): Promise<Float32Array> {
    const handle = this.liveHandle();
    const ids = this.toTokenArray(tokens, 'tokens', 1);
    const refs = this.toNativeAdapters(adapters);
    return this.enqueue(() => this.native.trainerLogits(handle, ids, refs));
  }

  /** Releases the model; a job already running finishes first. Idempotent. */
  dispose(): void {
    if (!this.handle) return;
    this.native.trainerFree(this.handle);
    this.handle = undefined;
  }

  get disposed(): boolean {
    return this.handle === undefined;
  }

  private liveHandle(): NativeTrainerHandle {
    if (!this.handle) throw new TrainerError('disposed', 'The trainer was disposed; create a new one.');
    return this.handle;
  }

  /** Runs jobs one after another (the native trainer holds one compute buffer per model). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job).catch((error: unknown) => { throw toTrainerError(error); });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private toTokenArray(tokens: number[], name: string, minLength: number): Int32Array {
    if (!Array.isArray(tokens) && !(tokens as unknown instanceof Int32Array)) throw new InvalidTrainingInputError(`${name} must be an array of token ids.`);
    if (tokens.length < minLength) throw new InvalidTrainingInputError(`${name} needs at least ${minLength} token(s).`);
    const limit = Math.min(this.info.nCtxTrain, MAX_SEQUENCE_TOKENS);
    if (tokens.length > limit) throw new InvalidTrainingInputError(`${name} has ${tokens.length} tokens, more than the limit of ${limit} (model context or the trainer's maximum); split it into shorter sequences.`);
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.info.nVocab) throw new InvalidTrainingInputError(`${name}[${i}] = ${t} is not a token id of this model (0..${this.info.nVocab - 1}).`);
      out[i] = t;
    }
    return out;
  }

  private toNativeSequences(sequences: TokenSequence[]): NativeSequence[] {
    if (!Array.isArray(sequences) || sequences.length === 0) throw new InvalidTrainingInputError('sequences must be a non-empty array.');
    return sequences.map((seq, s) => {
      const tokens = this.toTokenArray(seq?.tokens, `sequences[${s}].tokens`, 2);
      if (seq.lossMask === undefined) {
        if (seq.teacher) throw new InvalidTrainingInputError(`sequences[${s}] has a teacher but no lossMask to say which tokens it labels.`);
        return { tokens };
      }
      if (!Array.isArray(seq.lossMask) || seq.lossMask.length !== tokens.length) {
        throw new InvalidTrainingInputError(`sequences[${s}].lossMask must have one entry per token (${tokens.length}).`);
      }
      const mask = Int32Array.from(seq.lossMask, (m, i) => {
        if (m !== 0 && m !== 1) throw new InvalidTrainingInputError(`sequences[${s}].lossMask[${i}] must be 0 or 1.`);
        return m;
      });
      if (!mask.subarray(1).some((m) => m === 1)) throw new InvalidTrainingInputError(`sequences[${s}] has no loss tokens (lossMask is 0 after the first token).`);
      if (!seq.teacher) return { tokens, lossMask: mask };
      const { k, ids, probs } = seq.teacher;
      const targets = mask.subarray(1).reduce((n, m) => n + m, 0);
      checkInt(`sequences[${s}].teacher.k`, k, 1, 1024);
      if (!(ids instanceof Int32Array) || !(probs instanceof Float32Array) || ids.length !== targets * k || probs.length !== targets * k) {
        throw new InvalidTrainingInputError(`sequences[${s}].teacher needs ${k} ids (Int32Array) and ${k} probabilities (Float32Array) for each of its ${targets} targets.`);
      }
      return { tokens, lossMask: mask, teacher: { k, ids, probs } };
    });
  }

  private toNativeAdapters(adapters: AdapterRef[]): NativeAdapter[] {
    if (!Array.isArray(adapters)) throw new InvalidTrainingInputError('adapters must be an array.');
    return adapters.map((a, i) => {
      if (typeof a?.path !== 'string' || a.path === '') throw new InvalidTrainingInputError(`adapters[${i}].path must be a file path.`);
      return { path: a.path, scale: checkNumber(`adapters[${i}].scale`, a.scale ?? 1, () => true, 'must be a finite number') };
    });
  }
}
