// The headless encoder of distributed encoding (`paramkb worker`, DESIGN §7): it takes jobs from
// the BullMQ queue of the model file it holds, checks each job field by field and against its
// model and prompt profile, trains the passage's adapter with the desktop encoder's code
// (augmentPassage, trainPassageAdapter) and returns the adapter file as the job's result. A job
// is never anything but data: nothing in it is run, loaded or used as a path.
//
// A worker killed mid-job stops renewing its lock; BullMQ's stalled-job check (run by the other
// workers) then hands the job to another worker.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisOptions } from 'bullmq';
import { sameEncodingDevice } from '../../shared/devices.js';
import type { EncodingDevice } from '../../shared/types.js';
import { augmentPassage } from '../encoding/augmentation.js';
import { loadEncoderModel } from '../encoding/encodingSession.js';
import { trainPassageAdapter, writesRewrite } from '../encoding/passageEncoder.js';
import { modelIdentity, describeModel, type ModelIdentity } from '../llm/modelIdentity.js';
import { promptProfileFingerprint } from '../llm/promptProfile.js';
import { processAlive } from '../processAlive.js';
import { ENCODE_JOB_FORMAT, encodeQueueName, validateEncodeJobData, type EncodeJobData, type EncodeJobResult } from './encodeJobs.js';

export interface EncodeWorkerOptions {
  connection: RedisOptions;
  modelPath: string;
  /** A prompt profile file; default: the one beside the model (as the desktop app resolves it). */
  profilePath?: string;
  /** CPU threads of each job's training and augmentation. Default: all cores. */
  threads?: number;
  /** Where to train: 'auto', 'cpu' or a device name (LoraTrainer.create). Default 'auto'. */
  device?: string;
  useGpu?: boolean;
  /**
   * Jobs in hand at once. Their augmentations (for passages that have none) are generated
   * together in one batch, which is faster per passage, as the desktop encoder batches 4;
   * their training runs one after another on the one trainer. Default 1.
   */
  concurrency?: number;
  /**
   * Seconds after which the job of a worker that stopped answering (killed, frozen, cut off) is
   * handed to another worker: BullMQ's lock duration and stalled-check interval. Default 30.
   */
  lockSeconds?: number;
  /** What the worker does, for its log. */
  onEvent?: (event: EncodeWorkerEvent) => void;
}

export type EncodeWorkerEvent =
  | { type: 'started'; jobId: string; passageId: number; attempt: number }
  | { type: 'progress'; jobId: string; passageId: number; step: 'augmenting' | 'training'; progress: number }
  | { type: 'completed'; jobId: string; passageId: number; seconds: number }
  | { type: 'failed'; jobId: string; passageId: number | null; error: string; final: boolean }
  | { type: 'error'; error: string }
  /** The trainer moved (a GPU failed and the CPU took over), seen after a job. */
  | { type: 'device'; device: EncodingDevice };

export interface RunningEncodeWorker {
  queueName: string;
  model: ModelIdentity;
  /** The device the trainer trains on now. */
  device(): EncodingDevice;
  /** Finishes the jobs in hand, then disconnects (`force`: drops them; other workers take them over). */
  close(force?: boolean): Promise<void>;
}

/** Progress is written to Redis at most this often per job. */
const PROGRESS_INTERVAL_MS = 1000;

/** A worker's folder for adapter files in the making: paramkb-worker-<pid>-<random> in the temp folder. */
const SCRATCH_PREFIX = 'paramkb-worker-';

/** Scratch folders of workers that were killed. */
function removeStaleScratch(): void {
  let names: string[];
  try { names = readdirSync(tmpdir()); } catch { return; }
  for (const name of names) {
    const pid = Number(new RegExp(`^${SCRATCH_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (pid && !processAlive(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

export async function startEncodeWorker(options: EncodeWorkerOptions): Promise<RunningEncodeWorker> {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new RangeError('concurrency must be an integer from 1 to 64.');
  const lockMs = Math.round((options.lockSeconds ?? 30) * 1000);
  const emit = options.onEvent ?? (() => undefined);
  const identity = await modelIdentity(options.modelPath);
  const model = await loadEncoderModel({ ...options, augmentBatch: concurrency });
  removeStaleScratch();
  const scratch = mkdtempSync(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
  let worker: Worker<EncodeJobData, EncodeJobResult> | null = null;
  try {
    const profile = promptProfileFingerprint(model.runtime.profile);
    const name = `${hostname()}:${process.pid}`;
    let device = model.device();
    const checkDevice = () => {
      const now = model.device();
      if (sameEncodingDevice(now, device)) return;
      device = now;
      emit({ type: 'device', device: now });
    };

    const encode = async (job: Job<EncodeJobData, EncodeJobResult>, signal?: AbortSignal): Promise<EncodeJobResult> => {
      const jobId = job.id ?? '?';
      let data: EncodeJobData;
      try {
        data = validateEncodeJobData(job.data);
      } catch (error) {
        throw new UnrecoverableError((error as Error).message);
      }
      if (data.model.fingerprint !== identity.fingerprint) {
        throw new UnrecoverableError(`This job is for the model ${describeModel(data.model)}, but this worker holds ${describeModel(identity)}. Start a worker with the job's model file.`);
      }
      if (data.promptProfile !== profile) {
        throw new UnrecoverableError(`This job's prompt profile (${data.promptProfile.slice(0, 12)}…) is not this worker's (${profile.slice(0, 12)}…, ${model.runtime.profileSource}); give the worker the same profile file as the knowledge base (--profile).`);
      }
      emit({ type: 'started', jobId, passageId: data.passageId, attempt: job.attemptsMade + 1 });
      let lastProgress = 0;
      const progress = (step: 'augmenting' | 'training', fraction: number) => {
        emit({ type: 'progress', jobId, passageId: data.passageId, step, progress: fraction });
        const now = performance.now();
        if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        job.updateProgress({ step, progress: fraction }).catch(() => undefined);
      };
      const outPath = join(scratch, `${randomUUID()}.gguf`);
      try {
        const started = performance.now();
        progress('augmenting', 0);
        const augmentation = data.augmentation ?? await augmentPassage(model.runtime, data.text, { qaCount: data.training.qaCount, rewrite: writesRewrite(data.training), signal });
        const augmentSeconds = data.augmentation ? 0 : (performance.now() - started) / 1000;
        progress('training', 0);
        const trained = await trainPassageAdapter(model.runtime, model.trainer, { ...data.training, warmupInit: null }, data.text, augmentation, outPath, {
          signal, onProgress: (p) => progress('training', p.step / Math.max(1, p.totalSteps)),
        });
        const bytes = readFileSync(outPath);
        emit({ type: 'completed', jobId, passageId: data.passageId, seconds: (performance.now() - started) / 1000 });
        return {
          format: ENCODE_JOB_FORMAT,
          passageId: data.passageId,
          modelFingerprint: identity.fingerprint,
          adapter: bytes.toString('base64'),
          sha256: createHash('sha256').update(bytes).digest('hex'),
          augmentation,
          sequences: trained.sequences.map((s) => s.kind),
          trainLoss: trained.meanLoss,
          augmentSeconds,
          trainSeconds: trained.seconds,
          trainTokens: trained.trainTokens,
          worker: name,
        };
      } catch (error) {
        // Bad input (a sequence too long for the model, say) fails the same way on every worker: no retry.
        if ((error as { expected?: unknown }).expected === true) throw new UnrecoverableError((error as Error).message);
        throw error;
      } finally {
        rmSync(outPath, { force: true });
        checkDevice();
      }
    };

    worker = new Worker<EncodeJobData, EncodeJobResult>(encodeQueueName(identity.fingerprint), (job, _token, signal) => encode(job, signal), {
      connection: options.connection,
      concurrency,
      name,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 2,
      autorun: false,
    });
    worker.on('failed', (job, error) => {
      const final = !job || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      emit({ type: 'failed', jobId: job?.id ?? '?', passageId: typeof job?.data?.passageId === 'number' ? job.data.passageId : null, error: error.message, final });
    });
    worker.on('error', (error) => emit({ type: 'error', error: error.message }));
    void worker.run().catch((error: unknown) => emit({ type: 'error', error: (error as Error).message }));
    await worker.waitUntilReady();
  } catch (error) {
    await worker?.close(true).catch(() => undefined);
    await model.dispose();
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
  const running = worker;
  let closed: Promise<void> | null = null;
  return {
    queueName: encodeQueueName(identity.fingerprint),
    model: identity,
    device: model.device,
    close: (force = false) => {
      closed ??= (async () => {
        try {
          await running.close(force);
        } finally {
          await model.dispose();
          rmSync(scratch, { recursive: true, force: true });
        }
      })();
      return closed;
    },
  };
}
