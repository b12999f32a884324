// Parametric encoding of passages (DESIGN §1): claim a job, augment the passage (or reuse the
// stored augmentation), build the training sequences, train a LoRA with the native trainer,
// then record the adapter and finish the job in one transaction. One loaded model serves
// augmentation and one loaded trainer serves every passage: nothing is loaded per passage.
import { rmSync } from 'node:fs';
import { ADAPTER_DEFAULTS } from '../../shared/adapterDefaults.js';
import { CancelledError } from '../../shared/errors.js';
import type { Db } from '../database/database.js';
import { DocumentStore } from '../database/documentStore.js';
import type { LlmRuntime } from '../llm/llmRuntime.js';
import type { AdapterTensorType, LoraTarget, LoraTrainer, TrainProgress } from '../trainer/LoraTrainer.js';
import { AdapterStore } from './adapterStore.js';
import { augmentationTokenBudget, augmentPassage, type Augmentation } from './augmentation.js';
import type { EncodeJob, JobQueue } from './jobQueue.js';
import { buildDistillationSequences, type DistillationSequence } from './distillation.js';
import { buildClosedBookSequences, buildTrainingSequences, trainingSetUsesRewrite, type TrainingSequence, type TrainingSet } from './trainingSequences.js';

/** Hyperparameters of new adapters. Defaults: the paper's recipe (DESIGN §1) but lr and epochs, tuned on the dev split. */
export interface EncodingConfig {
  /** Default 2. */
  rank: number;
  /** Default 32. */
  alpha: number;
  /** Default ADAPTER_DEFAULTS.learningRate: the paper's 3e-4 x 1 epoch leaves a small model's answers unchanged. */
  lr: number;
  /** Default ADAPTER_DEFAULTS.epochs. */
  epochs: number;
  /** Default ffn_gate, ffn_up, ffn_down. */
  targets: LoraTarget[];
  /**
   * The share of the model's layers, counted from the top, that get a LoRA (0 < share <= 1);
   * the backward pass stops at the lowest one. Default 1: every layer, as in the paper.
   */
  loraLayers: number;
  /** Seed of the fixed random init shared by every passage (PEFT: A Kaiming-uniform, B = 0). Default 42. */
  seed: number;
  /** QA pairs per passage. Default 3. */
  qaCount: number;
  /** A warm-up LoRA used as the init of every passage, instead of the random init. Default none. */
  warmupInit: string | null;
  /**
   * Tensor types of adapter files (LoraTrainer's outType). Default 'q3_k', the compact layout:
   * 11% of F32's size (0.44 MB per passage on a 1B model at rank 2) and, on the world dev split,
   * F1 within 0.2 points of F32's (bench/README.md).
   */
  outType: AdapterTensorType;
  /**
   * Passages augmented together in one batch ahead of training (each uses two sequences of
   * the runtime: rewrite and QA). Batched decoding makes augmentation several times faster per
   * passage on a CPU. Default 4.
   */
  augmentBatch: number;
  /**
   * How an adapter learns its passage: 'next-token' (the paper's sequences, loss on every
   * token) or 'distill' (context distillation: the question alone, labelled with the base
   * model's top-k distribution with the passage in the prompt; see distillation.ts).
   */
  objective: TrainingObjective;
  /** Which next-token sequences an adapter trains on (trainingSequences.ts). Default 'paper'. */
  trainingSet: TrainingSet;
  /** Teacher tokens kept per target in distillation. Default 16. */
  distillTopK: number;
  /** In distillation, the teacher's weight against the next token in each label (1: pure distillation). Default 1. */
  distillWeight: number;
}

export const TRAINING_OBJECTIVES = ['next-token', 'distill'] as const;
export type TrainingObjective = (typeof TRAINING_OBJECTIVES)[number];

export const DEFAULT_ENCODING_CONFIG: EncodingConfig = {
  rank: ADAPTER_DEFAULTS.rank, alpha: ADAPTER_DEFAULTS.alpha, lr: ADAPTER_DEFAULTS.learningRate, epochs: ADAPTER_DEFAULTS.epochs, targets: ['ffn_gate', 'ffn_up', 'ffn_down'], loraLayers: 1, seed: 42, qaCount: 3, warmupInit: null, outType: 'q3_k', augmentBatch: 4,
  objective: 'next-token', trainingSet: 'paper', distillTopK: 16, distillWeight: 1,
};

/** Whether augmentation writes a rewrite: only next-token training with a set that uses it does. */
export function writesRewrite(training: Pick<EncodingConfig, 'objective' | 'trainingSet'>): boolean {
  return training.objective !== 'distill' && trainingSetUsesRewrite(training.trainingSet);
}

/**
 * Augmentation's progress in words. The budget covers the first attempts; past it the model is
 * trying again because its first output could not be used (a base model often rambles), which
 * the user is told instead of a count that overshoots its total.
 */
export function augmentingDetail(tokens: number, budget: number, together = ''): string {
  return tokens <= budget
    ? `${tokens} of about ${budget} tokens written${together}`
    : `${tokens} tokens written${together}, trying again: the model's first output could not be used`;
}

/**
 * How the encoder shares its CPU threads between augmentation and training. Decoding moves a
 * few tokens per step, so its threads mostly wait on each other (on two cores one thread
 * decodes the world model's augmentation faster than two), while training's large batches
 * scale with threads. So the next passages are augmented on `augmentation` threads while the
 * current one trains on the others; once they are written, the training takes all `total`
 * from its next sequence.
 */
export interface EncoderThreads {
  total: number;
  augmentation: number;
}

/** Half the threads (at least one) decode; with one thread, augmentation and training take turns. */
export function encoderThreadsFor(total: number): EncoderThreads {
  return { total, augmentation: Math.max(1, Math.floor(total / 2)) };
}

export interface EncodeProgress {
  job: EncodeJob;
  step: 'augmenting' | 'training' | 'saving' | 'done' | 'failed';
  /** Where in the step, in words: "240 of about 1200 tokens written", "step 12 of 45". */
  detail?: string;
  progress: number;
  loss?: number;
}

/** Augmentation reports its tokens at most this often (each report is a database write and a message). */
const AUGMENT_REPORT_MS = 500;
/**
 * The longest a pause for answers lasts (each answer that starts pauses again): a long answer of
 * a 1B model takes under a minute on two cores.
 */
const ANSWER_PAUSE_MAX_MS = 120_000;

export interface EncodedPassage {
  passageId: number;
  augmentSeconds: number;
  trainSeconds: number;
  /** Seconds of the distillation teacher's forward passes (0 for next-token training). */
  teacherSeconds: number;
  /** Tokens the trainer processed: the sequences' tokens times the epochs. */
  trainTokens: number;
  losses: number[];
  warnings: string[];
  path: string;
}

/** The hyperparameters that decide an adapter's bytes (EncodingConfig without the scheduling ones). */
export type AdapterTraining = Pick<EncodingConfig, 'rank' | 'alpha' | 'lr' | 'epochs' | 'targets' | 'loraLayers' | 'seed' | 'warmupInit' | 'outType' | 'objective' | 'trainingSet' | 'distillTopK' | 'distillWeight'>;

export interface TrainedAdapter {
  sequences: TrainingSequence[];
  /** Mean per-token loss of each optimizer step. */
  losses: number[];
  meanLoss: number | null;
  seconds: number;
  /** Tokens the trainer processed: the sequences' tokens times the epochs. */
  trainTokens: number;
  /** Seconds of the distillation teacher's forward passes (0 for next-token training). */
  teacherSeconds: number;
}

/**
 * The sequences an adapter trains on, for its objective. Distillation needs QA pairs; a
 * passage whose augmentation has none trains on its text with the next-token loss
 * (buildTrainingSequences' fallback), so it still gets an adapter, and the warning says why.
 */
async function trainingSequences(runtime: LlmRuntime, training: AdapterTraining, text: string, augmentation: Augmentation): Promise<(TrainingSequence | DistillationSequence)[]> {
  if (training.objective === 'distill') {
    const distilled = await buildDistillationSequences(runtime, text, augmentation, training.distillTopK);
    if (distilled.length > 0) return distilled;
    augmentation.warnings.push('no QA pair to distil; trained on the passage text');
  }
  return buildTrainingSequences(runtime, text, augmentation, training.trainingSet);
}

/** The lowest layer that gets a LoRA when the top `share` of `nLayer` layers do (at least one). */
export function firstAdaptedLayer(nLayer: number, share: number): number {
  return Math.min(nLayer - 1, Math.max(0, Math.round(nLayer * (1 - share))));
}

/**
 * Trains the adapter of one passage from its text and augmentation and writes it to `outPath`.
 * The desktop encoder and `paramkb worker` both train through this function, so the same
 * model, inputs and seed give the same adapter bytes wherever they run.
 */
export async function trainPassageAdapter(
  runtime: LlmRuntime, trainer: LoraTrainer, training: AdapterTraining, text: string, augmentation: Augmentation, outPath: string,
  options: { signal?: AbortSignal; onProgress?: (progress: TrainProgress) => void } = {},
): Promise<TrainedAdapter> {
  const teacherStarted = performance.now();
  const sequences = await trainingSequences(runtime, training, text, augmentation);
  const teacherSeconds = training.objective === 'distill' ? (performance.now() - teacherStarted) / 1000 : 0;
  const trained = await trainer.train({
    sequences: sequences.map((s) => ({ tokens: s.tokens, lossMask: s.lossMask, ...('teacher' in s ? { teacher: s.teacher } : {}) })),
    distillWeight: training.distillWeight,
    rank: training.rank, alpha: training.alpha, lr: training.lr, epochs: training.epochs, targets: training.targets,
    firstLayer: firstAdaptedLayer(trainer.info.nLayer, training.loraLayers),
    seed: training.seed, init: training.warmupInit ?? undefined, outPath, outType: training.outType, signal: options.signal,
    onProgress: options.onProgress,
  });
  const meanLoss = trained.losses.length ? trained.losses.reduce((a, b) => a + b, 0) / trained.losses.length : null;
  const trainTokens = sequences.reduce((n, s) => n + s.tokens.length, 0) * training.epochs;
  return { sequences, losses: trained.losses, meanLoss, seconds: trained.seconds, trainTokens, teacherSeconds };
}

/** The training options stored with an adapter (its `config` column): what made it, for logs and audits. */
export function adapterConfigRecord(training: object, sequences: readonly (TrainingSequence | TrainingSequence['kind'])[], augmentation: Pick<Augmentation, 'warnings'>): unknown {
  return { ...training, sequences: sequences.map((s) => (typeof s === 'string' ? s : s.kind)), warnings: augmentation.warnings };
}

export class PassageEncoder {
  readonly adapters: AdapterStore;
  /** Augmentation seconds spent ahead of training (batched), by passage, until it is encoded. */
  private readonly prefetchSeconds = new Map<number, number>();
  /**
   * The batch of next passages being augmented while passages train (never rejects; null once
   * it ended); one at a time. A job whose passage is not augmented yet waits for it.
   */
  private ahead: Promise<void> | null = null;
  /** Set while answers run (pauseForAnswers); `end` resolves the promise that decoding awaits. */
  private answerPause: { ended: Promise<void>; end: () => void } | null = null;
  /** What augmentation awaits before each token: the end of the pause, if any. */
  private readonly waitTurn = (): Promise<void> | undefined => this.answerPause?.ended;

  private readonly documents: DocumentStore;

  constructor(
    db: Db,
    private readonly jobs: JobQueue,
    private readonly runtime: LlmRuntime,
    private readonly trainer: LoraTrainer,
    dataDir: string,
    private readonly config: EncodingConfig,
    private readonly threads: EncoderThreads,
    private readonly onProgress: (p: EncodeProgress) => void = () => undefined,
  ) {
    this.adapters = new AdapterStore(db, dataDir, () => runtime.fingerprint, jobs);
    this.documents = new DocumentStore(db, () => runtime.fingerprint);
  }

  get baseModel(): string {
    return this.runtime.fingerprint;
  }

  /**
   * Pauses the encoder while answers run (true) and resumes it (false): augmentation stops before
   * its next token and training on the CPU after the graph node in flight, so an answer has the
   * CPU to itself within milliseconds (LoraTrainer.setPaused). A pause ends by itself after
   * ANSWER_PAUSE_MAX_MS, so that an engine that never says its answers ended cannot stop
   * encoding for good, and when runQueue's signal aborts.
   */
  pauseForAnswers(paused: boolean): void {
    if (paused === (this.answerPause !== null)) return;
    if (paused) {
      let resolve!: () => void;
      const ended = new Promise<void>((r) => { resolve = r; });
      const timer = setTimeout(() => this.pauseForAnswers(false), ANSWER_PAUSE_MAX_MS);
      timer.unref?.();
      this.answerPause = { ended, end: () => { clearTimeout(timer); resolve(); } };
    } else {
      this.answerPause!.end();
      this.answerPause = null;
    }
    try { this.trainer.setPaused(paused); } catch { /* disposed: nothing left to pause */ }
  }

  /** The stored augmentation of a passage, or a new one (stored before training starts). */
  async augmentation(passageId: number, text: string, signal?: AbortSignal, onToken?: () => void): Promise<{ augmentation: Augmentation; seconds: number }> {
    const stored = this.documents.augmentationOf(passageId);
    if (stored) {
      try { return { augmentation: JSON.parse(stored) as Augmentation, seconds: 0 }; } catch { /* regenerate a damaged one */ }
    }
    const started = performance.now();
    const augmentation = await augmentPassage(this.runtime, text, { qaCount: this.config.qaCount, rewrite: writesRewrite(this.config), signal, onToken, waitTurn: this.waitTurn });
    // Cut short, its output is partial: never stored.
    if (signal?.aborted) throw new CancelledError('Augmentation');
    this.documents.setAugmentation(passageId, JSON.stringify(augmentation));
    return { augmentation, seconds: (performance.now() - started) / 1000 };
  }

  /**
   * Reports the tokens that augmentation writes as the job's progress (0.05 to 0.5), so that a
   * job shows movement from its first second, long before its first training step.
   */
  private augmentProgress(job: EncodeJob, passages: { text: string }[]): () => void {
    const budget = passages.reduce((n, p) => n + augmentationTokenBudget(this.runtime, p.text), 0);
    const together = passages.length > 1 ? ` (${passages.length} passages together)` : '';
    let tokens = 0;
    let reported = 0;
    return () => {
      tokens++;
      const now = performance.now();
      if (now - reported < AUGMENT_REPORT_MS) return;
      reported = now;
      this.report(job, 'augmenting', 0.05 + 0.45 * Math.min(1, tokens / budget), augmentingDetail(tokens, budget, together));
    };
  }

  private report(job: EncodeJob, step: EncodeProgress['step'], progress: number, detail?: string, loss?: number): void {
    this.jobs.progress(job.id, progress, detail ? `${step}: ${detail}` : step);
    this.onProgress({ job, step, detail, progress, loss });
  }

  /**
   * Augments the claimed job's passage together with the next queued ones that have no
   * augmentation yet, in one batch, reporting the tokens written as the job's progress.
   */
  private async prefetchAugmentations(job: EncodeJob, signal?: AbortSignal, among?: number[]): Promise<void> {
    const rows = this.jobs.toAugmentWith(job.id, this.baseModel, among, this.config.augmentBatch);
    // The job's own passage comes first when it lacks one; otherwise it was augmented ahead.
    if (rows.length < 2 || rows[0]!.id !== job.passageId) return;
    this.report(job, 'augmenting', 0.05, `${rows.length} passages together`);
    const onToken = this.augmentProgress(job, rows);
    const started = performance.now();
    await Promise.all(rows.map((r) => this.augmentation(r.id, r.text, signal, onToken)));
    // The batch ran as one: each passage is charged its share of the wall time.
    const share = (performance.now() - started) / 1000 / rows.length;
    for (const r of rows) this.prefetchSeconds.set(r.id, share);
  }

  /**
   * Starts augmenting the next queued passages without an augmentation (one batch), to run
   * while passages train, from `job` on, until the batch is written: decoding a few sequences
   * keeps few threads busy, so it takes the encoder's augmentation threads and training the
   * rest. Null when there is nothing to augment or no thread to spare. Never rejects: a passage
   * whose augmentation failed here is augmented again, with its progress shown, when its job is
   * claimed.
   */
  private augmentAhead(job: EncodeJob, signal?: AbortSignal, among?: number[]): Promise<void> | null {
    if (this.threads.augmentation >= this.threads.total) return null;
    const rows = this.jobs.toAugmentWith(job.id, this.baseModel, among, this.config.augmentBatch);
    if (rows.length === 0) return null;
    const started = performance.now();
    this.trainer.setThreads(this.threads.total - this.threads.augmentation);
    const ahead: Promise<void> = Promise.all(rows.map((r) => this.augmentation(r.id, r.text, signal))).then(() => {
      const share = (performance.now() - started) / 1000 / rows.length;
      for (const r of rows) this.prefetchSeconds.set(r.id, share);
    }, () => undefined).finally(() => {
      if (this.ahead === ahead) this.ahead = null;
      // The training still running takes every thread from its next sequence.
      try { this.trainer.setThreads(this.threads.total); } catch { /* disposed: nothing left to run */ }
    });
    return ahead;
  }

  /**
   * Trains a warm-up LoRA on closed-book QA sequences from the augmentations of `count`
   * passages spread over the knowledge base, and uses it as the init of every passage encoded
   * from now on (the paper's warm-up, with the model's own QA pairs: never evaluation questions).
   */
  async trainWarmup(count: number, options: { lr?: number; epochs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const all = this.documents.allPassages();
    const step = Math.max(1, Math.floor(all.length / Math.max(1, count)));
    const chosen = all.filter((_, i) => i % step === 0).slice(0, count);
    const augmentations: Augmentation[] = [];
    for (let i = 0; i < chosen.length; i += this.config.augmentBatch) {
      const batch = chosen.slice(i, i + this.config.augmentBatch);
      augmentations.push(...(await Promise.all(batch.map((r) => this.augmentation(r.id, r.text, options.signal)))).map((a) => a.augmentation));
    }
    const sequences = augmentations.flatMap((a) => buildClosedBookSequences(this.runtime, a));
    if (sequences.length === 0) throw new Error('The warm-up found no QA pairs to train on.');
    const path = this.adapters.warmupPath(this.baseModel, this.config.rank, this.config.alpha);
    await this.trainer.train({
      sequences: sequences.map((s) => ({ tokens: s.tokens, lossMask: s.lossMask })),
      rank: this.config.rank, alpha: this.config.alpha, lr: options.lr ?? this.config.lr, epochs: options.epochs ?? 1, targets: this.config.targets,
      seed: this.config.seed, outPath: path, outType: 'f32', signal: options.signal,
    });
    this.config.warmupInit = path;
    return path;
  }

  /**
   * Encodes one claimed job. Throws on failure; the caller records it. `options.augmentAhead`:
   * unless a batch is being augmented already, start augmenting the next queued passages (of
   * `among` only, when given) as this one trains, in `this.ahead`; `options.since`: when the
   * encoder's time for this passage began (performance.now(); default now), recorded as the
   * job's seconds.
   */
  async encode(job: EncodeJob, signal?: AbortSignal, options: { augmentAhead?: { among?: number[] }; since?: number } = {}): Promise<EncodedPassage | null> {
    const since = options.since ?? performance.now();
    const text = this.documents.passageText(job.passageId);
    if (text === null) return null; // deleted meanwhile: its job went with it
    const passage = { text };
    const report = (step: EncodeProgress['step'], progress: number, detail?: string, loss?: number) => this.report(job, step, progress, detail, loss);
    const prefetched = this.prefetchSeconds.has(job.passageId);
    if (!prefetched) report('augmenting', 0.05);
    const augmented = await this.augmentation(job.passageId, passage.text, signal, prefetched ? undefined : this.augmentProgress(job, [passage]));
    const augmentation = augmented.augmentation;
    const augmentSeconds = augmented.seconds + (this.prefetchSeconds.get(job.passageId) ?? 0);
    this.prefetchSeconds.delete(job.passageId);
    report('training', 0.5, `${this.config.objective}, ${this.config.epochs} epochs`);
    const path = this.adapters.pathFor(job.passageId, job.baseModel);
    // Passages train one after another while a batch is augmented; the next batch starts with
    // the first passage that trains after it was written.
    if (options.augmentAhead && !this.ahead) this.ahead = this.augmentAhead(job, signal, options.augmentAhead.among);
    // Every step report arrives before train() settles (the addon settles behind them).
    const trained = await trainPassageAdapter(this.runtime, this.trainer, this.config, passage.text, augmentation, path, {
      signal, onProgress: (p) => report('training', 0.5 + 0.45 * (p.step / Math.max(1, p.totalSteps)), `step ${p.step} of ${p.totalSteps}`, p.loss),
    });
    report('saving', 0.97);
    // The job may have been cancelled or its passage deleted while training ran.
    if (!this.jobs.isStillRunning(job.id)) {
      rmSync(path, { force: true });
      return null;
    }
    this.jobs.complete(job.id, () => this.adapters.record({
      passageId: job.passageId, baseModel: job.baseModel, path, rank: this.config.rank, alpha: this.config.alpha, trainLoss: trained.meanLoss,
      config: adapterConfigRecord(this.config, trained.sequences, augmentation),
    }), (performance.now() - since) / 1000);
    report('done', 1, undefined, trained.meanLoss ?? undefined);
    return {
      passageId: job.passageId, augmentSeconds, trainSeconds: trained.seconds, teacherSeconds: trained.teacherSeconds, trainTokens: trained.trainTokens,
      losses: trained.losses, warnings: augmentation.warnings, path,
    };
  }

  /**
   * Runs queued jobs of the loaded base model (of the `among` passages only, when given) until
   * none is left, encoding is paused, or `signal` aborts (the running job is then put back, not
   * counted as a failed attempt).
   */
  async runQueue(options: { signal?: AbortSignal; onEncoded?: (e: EncodedPassage) => void; among?: number[] } = {}): Promise<number> {
    this.jobs.recoverInterrupted();
    this.adapters.sweepOrphans(this.baseModel);
    let encoded = 0;
    // A job's seconds are the encoder's wall time since the previous job ended: with
    // augmentation overlapping training, the sum of a passage's parts overstates its cost.
    let since = performance.now();
    // Stopping ends a pause for answers: the running job is put back either way.
    const endPause = () => this.pauseForAnswers(false);
    options.signal?.addEventListener('abort', endPause, { once: true });
    try {
      while (!options.signal?.aborted && !this.jobs.isPaused()) {
        // Claimed first, so that the queue shows the job (and its augmentation's progress) from its start.
        const job = this.jobs.claim(this.baseModel, options.among);
        if (!job) break;
        try {
          // Its passage may be in the batch being augmented; one augmented already trains at once.
          if (this.documents.augmentationOf(job.passageId) === null) await this.ahead;
          // A failed batch is not fatal: the job augments (and reports) its own passage again.
          await this.prefetchAugmentations(job, options.signal, options.among).catch(() => undefined);
          const result = await this.encode(job, options.signal, { augmentAhead: { among: options.among }, since });
          if (result) { encoded++; options.onEncoded?.(result); }
        } catch (error) {
          if (options.signal?.aborted) {
            this.jobs.release(job.id);
            break;
          }
          const e = error as Error & { expected?: boolean };
          this.jobs.fail(job.id, e.message, e.expected !== true);
          this.onProgress({ job, step: 'failed', progress: 0 });
        }
        since = performance.now();
      }
    } finally {
      options.signal?.removeEventListener('abort', endPause);
      // Nothing of this run may still be writing when it returns.
      await this.ahead;
    }
    return encoded;
  }
}
