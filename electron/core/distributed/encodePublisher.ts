// The knowledge base's side of distributed encoding (`paramkb encode --redis`, DESIGN §7): it
// claims the passages that have no adapter for the model, publishes one BullMQ job per passage
// on the model's queue, and collects the workers' adapters into the adapter store as they
// arrive. It can be stopped and started again at any time:
// - a job's id is a hash of its content, so publishing the same passage again finds the job
//   that is already there (waiting, running on a worker, or finished) instead of adding one;
// - a result stays in Redis until its adapter and the job's completion are committed to the
//   knowledge base, and is removed only then; a result seen twice stores nothing the second time;
// - the local jobs stay 'running' (step 'remote') while they are out, so the desktop encoder
//   leaves them alone, and go back to 'queued' when the run is stopped.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Queue, type Job, type RedisOptions } from 'bullmq';
import { ParamKbError } from '../../shared/errors.js';
import { openDatabase } from '../database/database.js';
import { DocumentStore } from '../database/documentStore.js';
import { AdapterStore } from '../encoding/adapterStore.js';
import { validateAugmentation, type Augmentation } from '../encoding/augmentation.js';
import { encodingConfigOf } from '../encoding/encodingSession.js';
import { JobQueue, type EncodeJob } from '../encoding/jobQueue.js';
import { adapterConfigRecord, type EncodingConfig } from '../encoding/passageEncoder.js';
import { FieldChecks } from '../fieldChecks.js';
import { modelIdentity } from '../llm/modelIdentity.js';
import { processAlive } from '../processAlive.js';
import { promptProfileFingerprint, resolvePromptProfile } from '../llm/promptProfile.js';
import { databasePath } from '../paths.js';
import { SettingsStore } from '../settingsStore.js';
import {
  ENCODE_JOB_FORMAT, encodeJobId, encodeQueueName, validateEncodeJobResult,
  type EncodeJobData, type EncodeJobResult, type RemoteTraining,
} from './encodeJobs.js';

export interface EncodeOnWorkersOptions {
  dataDir: string;
  modelPath: string;
  /** The prompt profile; default: the one beside the model. Workers must resolve the same one. */
  profilePath?: string;
  connection: RedisOptions;
  /** Only these passages; default: every passage without an adapter for the model. */
  passageIds?: number[];
  /** Overrides of the hyperparameters; the rest come from the knowledge base's settings. */
  config?: Partial<EncodingConfig>;
  /** Tries of a job before it fails for good (a worker's error, or its worker dying twice). Default 3. */
  attempts?: number;
  /** Stops the run: results already stored stay, jobs still out stay in Redis for the next run. */
  signal?: AbortSignal;
  onProgress?: (progress: DistributedProgress) => void;
  /** How often Redis is asked for new results. Default 1000 ms. */
  pollMs?: number;
}

export interface DistributedProgress {
  /** Passages of this run. */
  total: number;
  /** Adapters stored so far (including results that turned out to be duplicates). */
  collected: number;
  failed: number;
  /** Workers connected to the model's queue, or null when Redis does not say (CLIENT LIST disabled). */
  workers: number | null;
  /** The last connection error while Redis cannot be reached (the run waits for it), else null. */
  redisError: string | null;
}

export interface DistributedReport {
  total: number;
  /** Adapters this run added to the knowledge base. */
  stored: number;
  /** Results for passages that had an adapter by then (stored once, not twice). */
  duplicates: number;
  /** Jobs that failed for good; their errors are in the local jobs table (`paramkb jobs`). */
  failed: number;
  /** Jobs still with the workers when the run was stopped. */
  left: number;
  queueName: string;
  /** Seconds this process spent checking and storing results (what bounds a run with many fast workers). */
  storeSeconds: number;
}

type EncodeQueue = Queue<EncodeJobData, EncodeJobResult>;
type EncodeQueueJob = Job<EncodeJobData, EncodeJobResult>;

/** Jobs added to Redis per round trip. */
const PUBLISH_BATCH = 500;
/** Jobs read from Redis per round trip (a finished one carries its adapter, 0.6 MB for a 1B model). */
const PAGE = 20;

/** The knowledge base's random id, made once: jobs of several knowledge bases can share a queue. */
function knowledgeBaseId(settings: SettingsStore): string {
  const existing = settings.getValue('knowledgeBaseId');
  if (existing) return existing;
  const id = randomUUID();
  settings.setValue('knowledgeBaseId', id);
  return id;
}

export async function encodeOnWorkers(options: EncodeOnWorkersOptions): Promise<DistributedReport> {
  const identity = await modelIdentity(options.modelPath);
  const profile = promptProfileFingerprint(resolvePromptProfile(options.modelPath, options.profilePath).profile);
  const baseModel = identity.fingerprint;
  const db = openDatabase(databasePath(options.dataDir));
  const queueName = encodeQueueName(baseModel);
  let queue: EncodeQueue | null = null;
  const jobs = new JobQueue(db);
  /** BullMQ job id -> the local job it answers, for every job of this run not yet collected. */
  const out = new Map<string, EncodeJob>();
  let claimed: EncodeJob[] = [];
  let unlock = () => undefined as void;
  try {
    const config = encodingConfigOf(db, options.dataDir, options.config);
    if (config.warmupInit) throw new ParamKbError('warmup-remote', 'Workers cannot train from a warm-up init yet; encode with --warmup locally, or without it on workers.');
    const training: RemoteTraining = {
      rank: config.rank, alpha: config.alpha, lr: config.lr, epochs: config.epochs, targets: config.targets, loraLayers: config.loraLayers, seed: config.seed, outType: config.outType, qaCount: config.qaCount,
      objective: config.objective, trainingSet: config.trainingSet, distillTopK: config.distillTopK, distillWeight: config.distillWeight,
    };
    const settings = new SettingsStore(db, options.dataDir);
    const knowledgeBase = knowledgeBaseId(settings);
    // One publisher per knowledge base: a second would take over the first one's jobs.
    const other = Number(settings.getValue('remotePublisher'));
    if (other && processAlive(other)) {
      throw new ParamKbError('publisher-running', `Another \`paramkb encode --redis\` (process ${other}) is encoding this knowledge base's passages on workers; wait for it or stop it first.`);
    }
    settings.setValue('remotePublisher', String(process.pid));
    unlock = () => { if (settings.getValue('remotePublisher') === String(process.pid)) settings.setValue('remotePublisher', ''); };
    const documents = new DocumentStore(db, () => baseModel);
    const adapters = new AdapterStore(db, options.dataDir, () => baseModel, jobs);
    jobs.enqueue(options.passageIds ?? documents.allPassageIds(), baseModel);
    claimed = jobs.claimForRemote(baseModel, options.passageIds);
    queue = new Queue<EncodeJobData, EncodeJobResult>(queueName, { connection: options.connection });
    const q = queue;
    const attempts = options.attempts ?? 3;
    let redisError: string | null = null;
    let total = claimed.length;
    let stored = 0;
    let duplicates = 0;
    let failed = 0;
    const report = async () => {
      const workers = redisError ? null : await q.getWorkersCount().catch(() => null);
      options.onProgress?.({ total, collected: stored + duplicates, failed, workers, redisError });
    };
    // Commands wait while Redis is away; say why nothing moves.
    q.on('error', (error) => {
      if (redisError === error.message) return;
      redisError = error.message;
      void report();
    });
    if (!(await untilReady(q, options.signal))) return { total, stored: 0, duplicates: 0, failed: 0, left: claimed.length, queueName, storeSeconds: 0 };
    redisError = null;

    const jobDataOf = (passages: { id: number; text: string; augmentation: string | null }[]): EncodeJobData[] => passages.map((p) => ({
      format: ENCODE_JOB_FORMAT, knowledgeBase, passageId: p.id, text: p.text, augmentation: storedAugmentation(p.augmentation), training,
      model: { fingerprint: baseModel, name: identity.name, fileName: identity.fileName, sizeBytes: identity.sizeBytes }, promptProfile: profile,
    }));
    const publish = async (local: EncodeJob[]) => {
      const byPassage = new Map(local.map((j) => [j.passageId, j]));
      const data = jobDataOf(documents.passagesToEncode(local.map((j) => j.passageId)));
      const entries = data.map((d) => {
        const jobId = encodeJobId(d);
        out.set(jobId, byPassage.get(d.passageId)!);
        return { name: 'encode', data: d, opts: { jobId, attempts, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: false, removeOnFail: false } };
      });
      if (entries.length > 0) await q.addBulk(entries);
    };

    // A job that failed in an earlier run is tried again: remove it first, as adding a job whose
    // id exists does nothing.
    const claimedIds = new Set(claimed.map((j) => j.passageId));
    await forEachJob(q, 'failed', async (job) => {
      if (job.data?.knowledgeBase !== knowledgeBase || !claimedIds.has(job.data.passageId)) return 'kept';
      await job.remove();
      return 'removed';
    });
    for (let i = 0; i < claimed.length && !options.signal?.aborted; i += PUBLISH_BATCH) await publish(claimed.slice(i, i + PUBLISH_BATCH));
    // Passages that are gone by now (deleted meanwhile) are not counted.
    total = out.size;
    let storeSeconds = 0;
    const collect = (job: EncodeQueueJob, local: EncodeJob) => {
      const started = performance.now();
      try {
        collectOne(job, local);
      } finally {
        storeSeconds += (performance.now() - started) / 1000;
      }
    };
    const collectOne = (job: EncodeQueueJob, local: EncodeJob) => {
      let checked: ReturnType<typeof validateEncodeJobResult>;
      try {
        checked = validateEncodeJobResult(job.returnvalue, { passageId: local.passageId, modelFingerprint: baseModel });
      } catch (error) {
        jobs.fail(local.id, `A worker's result was refused: ${(error as Error).message}`, false);
        failed++;
        return;
      }
      const { result, adapter } = checked;
      const outcome = adapters.storeExternal({
        passageId: local.passageId, baseModel, bytes: adapter, sha256: result.sha256, rank: training.rank, alpha: training.alpha, trainLoss: result.trainLoss,
        config: adapterConfigRecord({ ...config, warmupInit: null, worker: result.worker }, result.sequences, result.augmentation),
      }, () => {
        jobs.complete(local.id, () => undefined);
        documents.storeAugmentationIfMissing(local.passageId, JSON.stringify(result.augmentation));
      });
      if (outcome === 'stored') stored++;
      else if (outcome === 'duplicate') {
        duplicates++;
        jobs.complete(local.id, () => undefined);
      }
    };

    // Once: results of this knowledge base that this run did not ask for (an earlier run's, for a
    // passage encoded since, or with other settings) are dropped.
    await forEachJob(q, 'completed', async (job) => {
      if (job.data?.knowledgeBase !== knowledgeBase || out.has(job.id!)) return 'kept';
      await job.remove();
      return 'removed';
    });

    await report();
    let idleRounds = 0;
    while (out.size > 0 && !options.signal?.aborted) {
      let moved = false;
      // Only ids are listed: other knowledge bases' results are never read.
      for (const jobId of await q.getRanges(['completed'], 0, -1, true)) {
        const local = out.get(jobId);
        const job = local && await q.getJob(jobId);
        if (!local || !job) continue;
        collect(job, local);
        out.delete(jobId);
        moved = true;
        // Removed only now that its adapter and the job's completion are committed.
        await job.remove();
      }
      for (const jobId of await q.getRanges(['failed'], 0, -1, true)) {
        const local = out.get(jobId);
        const job = local && await q.getJob(jobId);
        if (!local || !job) continue;
        jobs.fail(local.id, job.failedReason || 'The job failed on the workers.', false);
        out.delete(jobId);
        failed++;
        moved = true;
      }
      redisError = null;
      await report();
      if (out.size === 0 || options.signal?.aborted) break;
      idleRounds = moved ? 0 : idleRounds + 1;
      // Jobs that Redis lost (a restart without persistence, a flush) are published again once
      // nothing is moving and the queue holds nothing in flight.
      if (idleRounds >= 5) {
        idleRounds = 0;
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).every((n) => n === 0)) {
          const lost: EncodeJob[] = [];
          for (const [jobId, local] of out) if ((await q.getJobState(jobId)) === 'unknown') { lost.push(local); out.delete(jobId); }
          for (let i = 0; i < lost.length; i += PUBLISH_BATCH) await publish(lost.slice(i, i + PUBLISH_BATCH));
        }
      }
      await sleep(options.pollMs ?? 1000, options.signal);
    }
    return { total, stored, duplicates, failed, left: out.size, queueName, storeSeconds };
  } finally {
    // Jobs still out (or never published) go back to the local queue; their Redis jobs stay for the next run.
    jobs.releaseRemote(claimed.map((j) => j.id));
    unlock();
    await queue?.close().catch(() => undefined);
    db.close();
  }
}

function storedAugmentation(json: string | null): Augmentation | null {
  if (!json) return null;
  try {
    return validateAugmentation(new FieldChecks((path, what) => new Error(`${path} ${what}`)), 'augmentation', JSON.parse(json));
  } catch {
    return null; // a damaged one is generated again by the worker, as the local encoder would
  }
}

/**
 * Visits the jobs in one state, oldest first, page by page. `visit` says whether it removed the
 * job, so that the next page starts where the remaining jobs are.
 */
async function forEachJob(queue: EncodeQueue, state: 'completed' | 'failed', visit: (job: EncodeQueueJob) => Promise<'removed' | 'kept'>): Promise<void> {
  let start = 0;
  for (;;) {
    const page = (await queue.getJobs([state], start, start + PAGE - 1, true)).filter((j) => j !== undefined && j !== null && j.id !== undefined);
    for (const job of page) if ((await visit(job)) === 'kept') start++;
    if (page.length < PAGE) return;
  }
}

/** Waits until the queue's connection is ready; false when `signal` aborts first. */
async function untilReady(queue: EncodeQueue, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  let onAbort = () => undefined as void;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([queue.waitUntilReady().then(() => true), aborted]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The state of a model's queue, for `paramkb jobs --redis`. */
export async function remoteQueueStatus(connection: RedisOptions, baseModel: string): Promise<{ queueName: string; counts: Record<string, number>; workers: number | null }> {
  const queueName = encodeQueueName(baseModel);
  const queue = new Queue(queueName, { connection });
  queue.on('error', () => undefined); // the calls below reject with the error
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    const workers = await queue.getWorkersCount().catch(() => null);
    return { queueName, counts, workers };
  } finally {
    await queue.close().catch(() => undefined);
  }
}
