// The `paramkb` command: the same core as the app, headless. Data folder and model come from
// flags, then PARAMKB_DATA / PARAMKB_MODEL / PARAMKB_PROFILE, then defaults (the app's folder
// and the model it last opened). Errors print one line and exit non-zero.
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { RedisOptions } from 'bullmq';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ANSWER_MODES, ENCODING_POLICIES, HOP_POLICIES, RETRIEVAL_METHODS, type AnswerMode, type EncodingDevice, type EncodingPolicy, type HopPolicy, type PackProgress, type RetrievalMethod,
} from '../shared/types.js';
import { PACK_FILE_EXTENSION } from '../shared/contract.js';
import { Engine, type EngineOptions } from '../core/engine.js';
import { DEFAULT_RELEVANCE_EXPONENT } from '../core/answer/answerer.js';
import {
  COMPARED_MODES, compareReports, evaluate, evaluateRetrieval, readEvalDocuments, readEvalQuestions, withSupportingTitles, type EvalReport, type RetrievalReport,
} from '../core/eval/evaluate.js';
import type { FusionMethod, RetrieveOptions } from '../core/retrieval/retriever.js';
import { openDatabase } from '../core/database/database.js';
import { DocumentStore } from '../core/database/documentStore.js';
import { encodeOnWorkers, remoteQueueStatus } from '../core/distributed/encodePublisher.js';
import { startEncodeWorker } from '../core/distributed/encodeWorker.js';
import { redactedRedisUrl, redisOptions } from '../core/distributed/redisConnection.js';
import { REMOTE_STEP } from '../core/encoding/jobQueue.js';
import { describeModel } from '../core/llm/modelIdentity.js';
import { openEncodingSession } from '../core/encoding/encodingSession.js';
import { JobQueue } from '../core/encoding/jobQueue.js';
import { isTrainingSet, type TrainingSet } from '../core/encoding/trainingSequences.js';
import { DEFAULT_ENCODING_CONFIG, TRAINING_OBJECTIVES, type EncodedPassage, type EncodeProgress, type EncodingConfig, type TrainingObjective } from '../core/encoding/passageEncoder.js';
import { databasePath, resolveDataDir } from '../core/paths.js';
import { SettingsStore } from '../core/settingsStore.js';
import { modelFingerprint } from '../core/llm/llmRuntime.js';
import { ADAPTER_TENSOR_TYPES, type AdapterTensorType } from '../core/trainer/LoraTrainer.js';
import { trainerAvailability } from '../core/trainer/nativeTrainerBinding.js';
import { ADAPTER_DEFAULTS } from '../shared/adapterDefaults.js';
import { EncodingUnavailableError, ParamKbError } from '../shared/errors.js';
import { encoderDeviceSetting } from '../shared/devices.js';
import { formatBytes, formatDuration, formatEncodingDevice, formatLocalTime, formatRunsOn } from '../shared/format.js';

interface GlobalOptions { data?: string; model?: string; profile?: string; embeddingModel?: string }

function parseMode(value: string): AnswerMode {
  if (!ANSWER_MODES.includes(value as AnswerMode)) throw new InvalidArgumentError(`use one of ${ANSWER_MODES.join(', ')}`);
  return value as AnswerMode;
}

function parseModes(value: string): AnswerMode[] {
  return value.split(',').map((m) => parseMode(m.trim()));
}

function parseK(value: string): number {
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1 || k > 20) throw new InvalidArgumentError('k must be an integer from 1 to 20');
  return k;
}

function engineOptions(globals: GlobalOptions, dataDir?: string): EngineOptions {
  const model = globals.model ?? process.env.PARAMKB_MODEL;
  const profile = globals.profile ?? process.env.PARAMKB_PROFILE;
  const embeddingModel = globals.embeddingModel ?? process.env.PARAMKB_EMBEDDING_MODEL;
  return {
    dataDir: resolveDataDir(dataDir ?? globals.data),
    modelPath: model ? resolve(model) : undefined,
    embeddingModelPath: embeddingModel ? resolve(embeddingModel) : undefined,
    profilePath: profile ? resolve(profile) : undefined,
  };
}

/** The model the knowledge base last opened, if any. */
function lastModelPath(dataDir: string): string | undefined {
  const db = openDatabase(databasePath(dataDir));
  try {
    return new SettingsStore(db, dataDir).getValue('modelPath') ?? undefined;
  } finally {
    db.close();
  }
}

/** Opens the engine, runs `fn`, and always closes it. A model named explicitly must load. */
async function withEngine<T>(options: EngineOptions, needsModel: boolean, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(options);
  try {
    if (needsModel) engine.requireRuntime();
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

interface EncodingFlags {
  lr?: number; epochs?: number; rank?: number; alpha?: number; threads?: number; device?: string; reencode?: boolean; warmup?: number; adapterType?: AdapterTensorType;
  objective?: TrainingObjective; distillTopK?: number; distillWeight?: number; loraLayers?: number; trainingSet?: TrainingSet;
}

/** --device: 'auto', 'cpu' or a device name, checked as the Encoding device setting is. */
function parseDevice(value: string): string {
  const device = encoderDeviceSetting(value);
  if (device === null) throw new InvalidArgumentError("Use 'auto', 'cpu' or a device name such as CUDA0 or Vulkan0.");
  return device;
}

const DEVICE_FLAG_HELP = "where to train: auto (the first GPU with room for the model, else the CPU), cpu, or a device name such as CUDA0 or Vulkan0";

/** "NVIDIA GeForce RTX 4070 (CUDA0)", then the note, if any, on the next line. */
function deviceLines(device: EncodingDevice, indent = '  '): string {
  return `${formatEncodingDevice(device)}${device.note ? `\n${indent}${device.note}` : ''}`;
}

function parseObjective(value: string): TrainingObjective {
  if (!(TRAINING_OBJECTIVES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Use one of ${TRAINING_OBJECTIVES.join(', ')}.`);
  return value as TrainingObjective;
}

function parseTrainingSet(value: string): TrainingSet {
  if (!isTrainingSet(value)) throw new InvalidArgumentError('Use paper, or steps such as P1,C1,P2,C2,C3 (P: a QA pair with the passage, R: with the rewrite, C: closed-book).');
  return value;
}

function parseShare(value: string): number {
  const share = Number(value);
  if (!(share > 0 && share <= 1)) throw new InvalidArgumentError('Use a number above 0 and at most 1 (1: every layer).');
  return share;
}

function parseAdapterType(value: string): AdapterTensorType {
  if (!(ADAPTER_TENSOR_TYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Use one of ${ADAPTER_TENSOR_TYPES.join(', ')}.`);
  return value as AdapterTensorType;
}

/** The hyperparameter flags shared by `encode` and `eval --encode`. */
function addEncodingFlags(command: Command): Command {
  return command
    .option('--lr <lr>', `learning rate of new adapters (default: settings, ${ADAPTER_DEFAULTS.learningRate})`, Number.parseFloat)
    .option('--epochs <n>', `training epochs (default: settings, ${ADAPTER_DEFAULTS.epochs})`, (v) => Number.parseInt(v, 10))
    .option('--rank <r>', `LoRA rank (default: settings, ${ADAPTER_DEFAULTS.rank})`, (v) => Number.parseInt(v, 10))
    .option('--lora-layers <share>', `share of the model's layers, from the top, that get a LoRA, 0-1 (default: ${DEFAULT_ENCODING_CONFIG.loraLayers}, every layer)`, parseShare)
    .option('--alpha <a>', `LoRA alpha (default: settings, ${ADAPTER_DEFAULTS.alpha})`, Number.parseFloat)
    .option('--adapter-type <type>', `tensor types of new adapter files: ${ADAPTER_TENSOR_TYPES.join(', ')} (default: ${DEFAULT_ENCODING_CONFIG.outType})`, parseAdapterType)
    .option('--objective <objective>', `how adapters learn their passage: ${TRAINING_OBJECTIVES.join(' or ')} (default: ${DEFAULT_ENCODING_CONFIG.objective})`, parseObjective)
    .option('--training-set <set>', `next-token training steps per passage: paper, or steps such as P1,C1,P2,C2,C3 (P: a QA pair with the passage, R: with the rewrite, C: closed-book) (default: ${DEFAULT_ENCODING_CONFIG.trainingSet})`, parseTrainingSet)
    .option('--distill-top-k <k>', `teacher tokens kept per target in distillation (default: ${DEFAULT_ENCODING_CONFIG.distillTopK})`, (v) => Number.parseInt(v, 10))
    .option('--distill-weight <w>', `teacher's weight against the next token in distillation, 0-1 (default: ${DEFAULT_ENCODING_CONFIG.distillWeight})`, Number.parseFloat)
    .option('--threads <n>', 'CPU threads of encoding, and in eval of answers too (default: the Encoder threads setting, else Threads, else all cores)', (v) => Number.parseInt(v, 10))
    .option('--device <device>', `${DEVICE_FLAG_HELP} (default: the Encoding device setting, auto)`, parseDevice)
    .option('--reencode', 'delete the existing adapters of this model first (augmentations are kept)')
    .option('--warmup <n>', 'first train a warm-up init on the QA pairs of n passages', (v) => Number.parseInt(v, 10));
}

/** The hyperparameters of new adapters that the encoding flags override. */
function encodingOverrides(flags: EncodingFlags): Partial<EncodingConfig> {
  const config: Partial<EncodingConfig> = {};
  if (flags.lr !== undefined) config.lr = flags.lr;
  if (flags.epochs !== undefined) config.epochs = flags.epochs;
  if (flags.rank !== undefined) config.rank = flags.rank;
  if (flags.loraLayers !== undefined) config.loraLayers = flags.loraLayers;
  if (flags.alpha !== undefined) config.alpha = flags.alpha;
  if (flags.adapterType !== undefined) config.outType = flags.adapterType;
  if (flags.objective !== undefined) config.objective = flags.objective;
  if (flags.trainingSet !== undefined) config.trainingSet = flags.trainingSet;
  if (flags.distillTopK !== undefined) config.distillTopK = flags.distillTopK;
  if (flags.distillWeight !== undefined) config.distillWeight = flags.distillWeight;
  return config;
}

/**
 * Encodes the passages that have no adapter yet (all of them, one document's, or a given list),
 * with progress on stderr (encodingProgressView).
 */
async function encodePassages(dataDir: string, modelPath: string, profilePath: string | undefined, flags: EncodingFlags, select: { documentId?: number; passageIds?: number[] } = {}): Promise<string> {
  const { documentId } = select;
  const config = encodingOverrides(flags);
  // Before the model loads and before anything is queued: without the trainer no job could run.
  const availability = trainerAvailability();
  if (!availability.available) throw new EncodingUnavailableError(availability.reason);
  let view: EncodingProgressView | null = null;
  // The trainer can move to the CPU when a GPU fails a job: said when seen, after each job.
  const checkDevice = () => {
    const changed = session.reportDevice();
    if (changed) view?.message(`Encoding device: ${deviceLines(changed)}`);
  };
  const session = await openEncodingSession({
    dataDir, modelPath, profilePath, threads: flags.threads, device: flags.device, config,
    onProgress: (p) => { view?.progress(p); if (p.step === 'failed') checkDevice(); },
  });
  try {
    process.stderr.write(`Encoding on ${deviceLines(session.device())}\n`);
    const baseModel = session.runtime.fingerprint;
    if (flags.reencode) session.encoder.adapters.deleteAll(baseModel);
    const documents = new DocumentStore(session.db, () => baseModel);
    const ids = select.passageIds ?? (documentId === undefined ? documents.allPassageIds() : documents.passageIdsOf(documentId));
    if (ids.length === 0) throw new ParamKbError('not-found', documentId === undefined ? 'The knowledge base has no passages; import documents first.' : `Document ${documentId} has no passages (see paramkb status).`);
    let warmup = '';
    if (flags.warmup) {
      const started = performance.now();
      await session.encoder.trainWarmup(flags.warmup);
      warmup = ` after a warm-up on ${flags.warmup} passages (${((performance.now() - started) / 1000).toFixed(1)} s)`;
    }
    session.jobs.enqueue(ids, baseModel);
    view = encodingProgressView(session.jobs.countQueued(baseModel, ids));
    let augment = 0;
    let train = 0;
    const encoded = await session.encoder.runQueue({ among: ids, onEncoded: (e) => { augment += e.augmentSeconds; train += e.trainSeconds; view?.encoded(e); checkDevice(); } });
    view.stop();
    const status = session.jobs.status(baseModel);
    return `Encoded ${encoded} passages${warmup} (augmentation ${augment.toFixed(1)} s, training ${train.toFixed(1)} s); ${status.failed} failed, ${session.jobs.countQueued(baseModel, ids)} still queued${status.paused ? ' (paused)' : ''}.`;
  } finally {
    await session.close();
  }
}

interface RedisFlags { redis?: string; redisPasswordFile?: string; redisTlsCa?: string; redisTlsCert?: string; redisTlsKey?: string }

/** The Redis connection flags of `worker`, `encode --redis` and `jobs --redis`. */
function addRedisFlags(command: Command, required: boolean): Command {
  const url = new Option('--redis <url>', 'Redis of distributed encoding: redis://host:6379, or rediss://host:6380 for TLS (password: env PARAMKB_REDIS_PASSWORD or --redis-password-file)');
  return command
    .addOption(required ? url.makeOptionMandatory() : url)
    .option('--redis-password-file <file>', 'file holding the Redis password (kept off the command line)')
    .option('--redis-tls-ca <pem>', 'CA certificate that signed the Redis server\'s (turns TLS on)')
    .option('--redis-tls-cert <pem>', 'client certificate, for Redis servers that require mutual TLS')
    .option('--redis-tls-key <pem>', 'the client certificate\'s key');
}

function redisConnection(flags: RedisFlags): RedisOptions {
  let password = process.env.PARAMKB_REDIS_PASSWORD || undefined;
  if (flags.redisPasswordFile) {
    try {
      password = readFileSync(resolve(flags.redisPasswordFile), 'utf8').trim();
    } catch (error) {
      throw new ParamKbError('redis-config', `Cannot read the Redis password file ${flags.redisPasswordFile}: ${(error as Error).message}.`);
    }
  }
  return redisOptions({
    url: flags.redis!, password,
    tlsCaFile: flags.redisTlsCa && resolve(flags.redisTlsCa), tlsCertFile: flags.redisTlsCert && resolve(flags.redisTlsCert), tlsKeyFile: flags.redisTlsKey && resolve(flags.redisTlsKey),
  });
}

/** Encodes the passages without an adapter on `paramkb worker` processes, with a progress bar over all workers. */
async function encodeOnRedis(dataDir: string, modelPath: string, profilePath: string | undefined, flags: EncodingFlags & RedisFlags & { attempts?: number }, documentId?: number): Promise<string> {
  if (flags.warmup) throw new ParamKbError('warmup-remote', 'Workers cannot train from a warm-up init yet: drop --warmup, or encode without --redis.');
  const passageIds = documentId === undefined ? undefined : withDocuments(dataDir, (documents) => documents.passageIdsOf(documentId));
  if (passageIds?.length === 0) throw new ParamKbError('not-found', `Document ${documentId} has no passages (see paramkb status).`);
  if (flags.reencode) throw new ParamKbError('reencode-remote', 'Use --reencode without --redis (it deletes adapters), then encode with --redis.');
  if (flags.device) throw new ParamKbError('device-remote', 'Each worker trains on its own device: drop --device here and pass it to `paramkb worker`.');
  const controller = new AbortController();
  // The first Ctrl+C stops after the results in hand are stored; a second one exits at once.
  const stop = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const bar = new SingleBar({
    format: 'Encoding on workers [{bar}] {value}/{total} {percentage}% | {workers} workers | {failed} failed | ETA {eta_formatted}',
    stream: process.stderr, hideCursor: true, clearOnComplete: true, noTTYOutput: false, etaBuffer: 20,
  });
  let started = false;
  let lastRedisError: string | null = null;
  try {
    const report = await encodeOnWorkers({
      dataDir, modelPath, profilePath, connection: redisConnection(flags), passageIds, config: encodingOverrides(flags), attempts: flags.attempts, signal: controller.signal,
      onProgress: (p) => {
        if (p.redisError && p.redisError !== lastRedisError) process.stderr.write(`\nWaiting for Redis at ${redactedRedisUrl(flags.redis!)}: ${p.redisError}\n`);
        lastRedisError = p.redisError;
        if (p.redisError && !started) return;
        const payload = { workers: p.workers ?? '?', failed: p.failed };
        if (!started) { bar.start(p.total, p.collected + p.failed, payload); started = true; }
        else bar.update(p.collected + p.failed, payload);
      },
    });
    if (started) bar.stop();
    const stopped = report.left > 0 ? ` Stopped with ${report.left} passages not encoded or not collected yet: run the same command again to go on (finished ones are not encoded again).` : '';
    return `Encoded ${report.stored} passages on workers (queue ${report.queueName}); ${report.failed} failed${report.duplicates ? `, ${report.duplicates} results already stored` : ''}.${stopped}`;
  } finally {
    if (started) bar.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Runs `fn` on the knowledge base's documents without loading a model. */
function withDocuments<T>(dataDir: string, fn: (documents: DocumentStore) => T): T {
  const db = openDatabase(databasePath(dataDir));
  try {
    return fn(new DocumentStore(db, () => null));
  } finally {
    db.close();
  }
}

function parseIdList(value: string): number[] {
  const ids = value.split(',').map((v) => Number(v.trim()));
  if (ids.length === 0 || ids.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new InvalidArgumentError('expected document ids separated by commas, e.g. 3,7,12');
  return ids;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface EncodingProgressView {
  progress(p: EncodeProgress): void;
  encoded(e: EncodedPassage): void;
  /** A line of its own, above a terminal's bar. */
  message(line: string): void;
  stop(): void;
}

/** How often a line of encoding progress is written when stderr is not a terminal. */
const PROGRESS_LINE_MS = 5_000;

/**
 * Encoding progress on stderr, from the first second: the passage's stage (augmenting: tokens
 * written; training: step n of m), then a rate and the time left once a passage is done. A
 * bar on a terminal; a plain line on each change (at most every 5 s, and for every finished
 * passage) when stderr is a log or a pipe.
 */
function encodingProgressView(total: number): EncodingProgressView {
  let done = 0;
  let seconds = 0;
  let stage = 'starting';
  let lastLine = 0;
  const rate = () => (done === 0 ? 'time left known after the first passage'
    : `${formatDuration(seconds / done)} per passage${done < total ? `, about ${formatDuration((seconds / done) * (total - done))} left` : ''}`);
  const bar = process.stderr.isTTY ? new SingleBar({
    format: 'Encoding [{bar}] {value}/{total} | {stage} | {rate}', stream: process.stderr, hideCursor: true, clearOnComplete: true,
  }) : null;
  bar?.start(total, 0, { stage, rate: rate() });
  const show = (force: boolean) => {
    if (bar) return bar.update(done, { stage, rate: rate() });
    const now = Date.now();
    if (!force && now - lastLine < PROGRESS_LINE_MS) return;
    lastLine = now;
    process.stderr.write(`Encoding: ${done}/${total} passages done; ${stage}; ${rate()}\n`);
  };
  return {
    progress: (p) => {
      if (p.step === 'done') return;
      stage = `passage ${p.job.passageId} ${p.detail ? `${p.step}, ${p.detail}` : p.step}`;
      show(false);
    },
    encoded: (e) => {
      done++;
      seconds += e.augmentSeconds + e.trainSeconds;
      stage = `passage ${e.passageId} done`;
      show(true);
    },
    message: (line) => {
      // On a terminal: over the bar's line, which is drawn again below it.
      process.stderr.write(bar ? `\r\x1b[K${line}\n` : `${line}\n`);
      show(true);
    },
    stop: () => bar?.stop(),
  };
}

function progressBar(label: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
  });
}

function parseChoice<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!choices.includes(value as T)) throw new InvalidArgumentError(`use one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** Waits for background embedding of the knowledge base, with a progress bar. */
async function embedAll(engine: Engine): Promise<void> {
  const status = await engine.getEmbeddingStatus();
  if (!status.model || status.embedded === status.total) return;
  const bar = progressBar('Embedding');
  bar.start(status.total, status.embedded);
  const timer = setInterval(() => bar.update(engine.embeddings.status().embedded), 500);
  try {
    await engine.embeddings.idle();
  } finally {
    clearInterval(timer);
    bar.stop();
  }
  const done = await engine.getEmbeddingStatus();
  if (done.error) throw new ParamKbError('embedding-failed', done.error);
}

function printRecallTable(reports: RetrievalReport[]): void {
  const types = [...new Set(reports.flatMap((r) => Object.keys(r.byType)))];
  const cell = (s: { supportRecall: number; supportAllFound: number } | undefined) => (s ? `${s.supportRecall.toFixed(3)} / ${s.supportAllFound.toFixed(3)}` : '-');
  const lines = [
    `| retrieval | hop | all (recall@${reports[0]?.k} / all found) | ${types.map((t) => `${t} (${reports[0]?.byType[t]?.n ?? 0})`).join(' | ')} | hopped | ms per question |`,
    `| --- | --- | --- | ${types.map(() => '---').join(' | ')} | --- | --- |`,
    ...reports.map((r) => `| ${r.retrieval} | ${r.hop} | ${cell(r.overall)} | ${types.map((t) => cell(r.byType[t])).join(' | ')} | ${r.overall.hopped.toFixed(3)} | ${r.meanMs.toFixed(1)} |`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

function printEvalTable(reports: EvalReport[]): void {
  const types = [...new Set(reports.flatMap((r) => Object.keys(r.byType)))];
  const cell = (s: { f1: number; em: number } | undefined) => (s ? `${s.f1.toFixed(3)} / ${s.em.toFixed(3)}` : '-');
  const recall = (r: EvalReport) => (r.overall.supportRecall === undefined ? '-' : `${r.overall.supportRecall.toFixed(3)} / ${r.overall.supportAllFound!.toFixed(3)}`);
  const lines = [
    `| mode | retrieval | all (F1 / EM) | ${types.map((t) => `${t} (${reports[0]?.byType[t]?.n ?? 0})`).join(' | ')} | support recall@k / all found | seconds |`,
    `| --- | --- | --- | ${types.map(() => '---').join(' | ')} | --- | --- |`,
    ...reports.map((r) => `| ${r.mode} | ${r.retrieval}, hop ${r.hop} | ${cell(r.overall)} | ${types.map((t) => cell(r.byType[t])).join(' | ')} | ${recall(r)} | ${r.seconds.toFixed(1)} |`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  const pairs = COMPARED_MODES.map(([a, b]) => [reports.find((r) => r.mode === a), reports.find((r) => r.mode === b)] as const)
    .filter((p): p is readonly [EvalReport, EvalReport] => p[0] !== undefined && p[1] !== undefined);
  if (pairs.length) printComparisons(pairs.map(([a, b]) => ({ label: `${b.mode} − ${a.mode}`, a, b })));
}

/** F1 differences with 95% paired-bootstrap intervals, overall and per type. */
function printComparisons(rows: { label: string; a: EvalReport; b: EvalReport }[]): void {
  const results = rows.map((r) => ({ label: r.label, ...compareReports(r.a, r.b) }));
  const types = [...new Set(results.flatMap((r) => Object.keys(r.byType)))];
  const cell = (d: { mean: number; low: number; high: number } | undefined) => (d ? `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(3)} [${d.low.toFixed(3)}, ${d.high.toFixed(3)}]` : '-');
  const lines = [
    `| F1 difference (95% paired bootstrap) | all | ${types.join(' | ')} |`,
    `| --- | --- | ${types.map(() => '---').join(' | ')} |`,
    ...results.map((r) => `| ${r.label} | ${cell(r.overall)} | ${types.map((t) => cell(r.byType[t])).join(' | ')} |`),
  ];
  process.stderr.write(`\n${lines.join('\n')}\n`);
}

/** Reads `report.json` or `report.json:mode` (a file may hold several modes' reports). */
function readReport(spec: string): EvalReport {
  const at = spec.lastIndexOf(':');
  const [file, mode] = at > 1 && !existsSync(spec) ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(resolve(file), 'utf8'));
  } catch (error) {
    throw new ParamKbError('eval-input', `Cannot read the eval report ${file}: ${(error as Error).message}`);
  }
  const reports = (Array.isArray(value) ? value : [value]) as EvalReport[];
  const chosen = mode ? reports.filter((r) => r.mode === mode) : reports;
  if (chosen.length !== 1 || !Array.isArray(chosen[0]?.predictions)) {
    throw new ParamKbError('eval-input', `${file} holds ${reports.map((r) => r.mode).join(', ') || 'no report'}; name one mode as ${file}:<mode>.`);
  }
  return chosen[0]!;
}

export function buildCli(): Command {
  const program = new Command('paramkb')
    .description('ParamKB: an offline knowledge base with Parametric RAG.')
    .option('--data <dir>', 'knowledge base folder (env PARAMKB_DATA)')
    .option('--model <gguf>', 'GGUF model file (env PARAMKB_MODEL; default: the last model opened)')
    .option('--profile <json>', 'prompt profile (env PARAMKB_PROFILE; default: profile.json beside the model)')
    .option('--embedding-model <gguf>', 'embedding GGUF for vector search (env PARAMKB_EMBEDDING_MODEL; default: the last one opened)')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  program.command('import')
    .description('import files and folders (.txt, .md, .html, .pdf, .docx)')
    .argument('<paths...>')
    .addOption(new Option('--encoding <policy>', 'what the app encodes into adapters from now on: all (every passage), on-demand (passages that questions retrieve), paused (default: the knowledge base\'s, all unless changed)').choices(ENCODING_POLICIES))
    .action(async (paths: string[], opts: { encoding?: EncodingPolicy }) => {
      await withEngine(engineOptions(program.opts()), false, async (engine) => {
        if (opts.encoding) engine.setEncodingPolicy(opts.encoding);
        const bar = progressBar('Importing');
        let started = false;
        const report = await engine.importer.importPaths(paths.map((p) => resolve(p)), {
          onProgress: ({ done, total }) => {
            if (total < 2) return;
            if (!started) { bar.start(total, 0); started = true; }
            bar.update(done);
          },
        });
        if (started) bar.stop();
        engine.afterImport(report);
        process.stdout.write(`Imported ${report.added} new and ${report.updated} changed documents (${report.passages} passages); ${report.unchanged} unchanged; ${report.failed.length} failed${report.skipped.length ? `; ${report.skipped.length} skipped` : ''}.\n`);
        for (const f of report.failed) process.stdout.write(`  failed: ${f.path}: ${f.reason}\n`);
        for (const f of report.skipped) process.stdout.write(`  skipped: ${f.path}: ${f.reason.replace(/^Skipped: /, '')}\n`);
        const estimate = report.encoding;
        if (estimate) {
          const policy = engine.settings.get().encodingPolicy;
          process.stdout.write(`Encoding the ${estimate.passages} new passages into adapters takes about ${formatDuration(estimate.seconds)} on this computer (${formatDuration(estimate.secondsPerPassage)} per passage, ${estimate.measured ? 'measured on this model' : 'a rough guess from the model\'s size'}). Encoding policy: ${policy}${policy === 'all' ? ' (the app encodes them in the background; `paramkb encode` does it now)' : ''}; choose with --encoding all|on-demand|paused (on-demand: only the passages that questions retrieve).\n`);
        }
        if (report.failed.length > 0 && report.added + report.updated + report.unchanged === 0) process.exitCode = 1;
      });
    });

  program.command('ask')
    .description('answer a question from the knowledge base')
    .argument('<question>')
    .addOption(new Option('--mode <mode>', `answer mode: ${ANSWER_MODES.join(', ')} (default: the knowledge base's default mode, combine unless changed in Settings)`).argParser(parseMode))
    .addOption(new Option('--k <k>', 'passages retrieved (default: the knowledge base\'s, 3 unless changed in Settings)').argParser(parseK))
    .option('--json', 'print the answer and its sources as JSON')
    .action(async (question: string, opts: { mode?: AnswerMode; k?: number; json?: boolean }) => {
      await withEngine(engineOptions(program.opts()), true, async (engine) => {
        const settings = engine.settings.get();
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.once('SIGINT', onSigint);
        try {
          const result = await engine.answerOnce({
            question, mode: opts.mode ?? settings.defaultMode, k: opts.k ?? settings.topK, signal: controller.signal, maxTokens: 256,
            onText: opts.json ? undefined : (text) => process.stdout.write(text),
          });
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ answer: result.answer, text: result.text, sources: result.sources, candidates: result.candidates, timings: result.generation.timings }, null, 2)}\n`);
            return;
          }
          process.stdout.write('\n');
          const candidates = result.candidates;
          if (candidates && candidates.passages.logProb !== null) {
            const other = candidates.kept === 'passages' ? 'adapters' : 'passages';
            process.stdout.write(`\n(Combine kept the ${candidates.kept}' answer; the ${other}' answer was "${candidates[other].answer}".)\n`);
          }
          if (result.sources.length > 0) {
            process.stdout.write('\nSources:\n');
            result.sources.forEach((s, i) => process.stdout.write(`  [${i + 1}] ${s.documentTitle} (${s.usedAs}, score ${s.score.toFixed(2)}): ${s.text.slice(0, 100)}${s.text.length > 100 ? '…' : ''}\n`));
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
      });
    });

  program.command('status')
    .description('show the knowledge base, model and encoding queue')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      // Reading changes nothing: the model is loaded to describe it, not queued for or remembered.
      await withEngine({ ...engineOptions(program.opts()), readOnly: true }, false, async (engine) => {
        const counts = engine.documents.counts();
        const model = await engine.getModel();
        const queue = await engine.getEncodingQueue();
        // status runs no encoder: the device is the one the last encoder saved.
        const encodingDevice = engine.settings.lastEncodingDevice();
        const deviceSetting = engine.settings.get().encoderDevice;
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ dataDir: engine.dataDir, ...counts, model, queue, encodingDevice, encoderDevice: deviceSetting }, null, 2)}\n`);
          return;
        }
        process.stdout.write([
          `Knowledge base: ${engine.dataDir}`,
          `Documents: ${counts.documents}, passages: ${counts.passages}`,
          `Model: ${model.loaded ? `${model.name} (${model.architecture}, ${formatRunsOn(model)})${model.computeNote ? `\n  ${model.computeNote}` : ''}` : model.error ?? 'none (use --model or PARAMKB_MODEL)'}`,
          queue.availability.available
            ? `Encoding: ${queue.done} done, ${queue.queued} queued, ${queue.running} running, ${queue.failed} failed (policy: ${engine.settings.get().encodingPolicy})${queue.secondsPerPassage === null ? '' : `; ${formatDuration(queue.secondsPerPassage)} per passage`}`
            : `Encoding: unavailable on this computer (answers use passages in context). ${queue.availability.reason}`,
          ...(encodingDevice
            ? [`Encoding device: ${formatEncodingDevice(encodingDevice)}, last used ${formatLocalTime(encodingDevice.at)}${deviceSetting === 'auto' ? '' : ` (setting: ${deviceSetting})`}${encodingDevice.note ? `\n  ${encodingDevice.note}` : ''}`]
            : queue.availability.available ? [`Encoding device: none used yet (setting: ${deviceSetting})`] : []),
        ].join('\n') + '\n');
      });
    });

  addRedisFlags(addEncodingFlags(program.command('encode')
    .description('turn passages into LoRA adapters (parametric encoding), in the foreground, here or on `paramkb worker` processes (--redis)')
    .option('--all', 'queue every passage without an adapter (default when no --doc)')
    .option('--doc <id>', 'queue the passages of one document', (v) => Number.parseInt(v, 10))
    .option('--attempts <n>', 'with --redis: tries of a passage on the workers before it fails (default 3)', parsePositiveInt)), false)
    .action(async (opts: EncodingFlags & RedisFlags & { all?: boolean; doc?: number; attempts?: number }) => {
      const options = engineOptions(program.opts());
      const modelPath = options.modelPath ?? lastModelPath(options.dataDir);
      if (!modelPath) throw new ParamKbError('no-model', 'No model to encode with: pass --model or set PARAMKB_MODEL.');
      const message = opts.redis
        ? await encodeOnRedis(options.dataDir, modelPath, options.profilePath, opts, opts.doc)
        : await encodePassages(options.dataDir, modelPath, options.profilePath, opts, { documentId: opts.doc });
      process.stdout.write(`${message}\n`);
    });

  addRedisFlags(program.command('worker')
    .description('encode passages for knowledge bases that publish them with `paramkb encode --redis` (a headless encoder for servers and GPU boxes)')
    .option('--concurrency <n>', 'passages in hand at once: their augmentations are generated in one batch (faster per passage), their training runs one after another (default 1; 4 suits passages without augmentation)', parsePositiveInt, 1)
    .option('--threads <n>', 'CPU threads per passage (default: all cores)', parsePositiveInt)
    .option('--device <device>', `${DEVICE_FLAG_HELP} (default: auto)`, parseDevice)
    .option('--lock-seconds <s>', 'seconds before the passage of a worker that stopped answering goes to another worker (default 30)', Number.parseFloat, 30), true)
    .action(async (opts: RedisFlags & { concurrency: number; threads?: number; device?: string; lockSeconds: number }) => {
      const globals = program.opts<GlobalOptions>();
      const model = globals.model ?? process.env.PARAMKB_MODEL;
      if (!model) throw new ParamKbError('no-model', 'A worker encodes with one model file: pass --model (the same GGUF the knowledge base uses) or set PARAMKB_MODEL.');
      const profile = globals.profile ?? process.env.PARAMKB_PROFILE;
      if (!Number.isFinite(opts.lockSeconds) || opts.lockSeconds < 1) throw new InvalidArgumentError('--lock-seconds must be at least 1.');
      await runWorker({ modelPath: resolve(model), profilePath: profile ? resolve(profile) : undefined, connection: redisConnection(opts), redisUrl: opts.redis!, ...opts });
    });

  const pack = program.command('pack').description('knowledge packs: documents, passages and the model\'s adapters in one file, to share with a team');
  pack.command('export')
    .description('write a knowledge pack (.paramkb) of the knowledge base (or some documents) with the adapters of the model')
    .argument('<file>', `the pack to write (ends in ${PACK_FILE_EXTENSION})`)
    .option('--documents <ids>', 'only these documents, e.g. 3,7,12 (ids as in paramkb status / the Knowledge view)', parseIdList)
    .option('--model-source <uri>', 'where the team gets the model, recorded in the pack (e.g. hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M)')
    .action(async (file: string, opts: { documents?: number[]; modelSource?: string }) => {
      const bar = progressBar('Exporting');
      let started = false;
      const options: EngineOptions = { ...engineOptions(program.opts()), events: (event, payload) => {
        if (event !== 'packProgress') return;
        const p = payload as PackProgress;
        if (!started) { bar.start(p.total, p.done); started = true; } else bar.update(p.done);
      } };
      await withEngine(options, false, async (engine) => {
        try {
          const report = await engine.exportPack(resolve(file), opts.documents ?? null, { modelSource: opts.modelSource });
          if (started) bar.stop();
          process.stdout.write(`Exported ${report.documents} documents, ${report.passages} passages and ${report.adapters} adapters (${formatBytes(report.bytes)}) to ${report.path}${report.model ? `; the adapters are for ${report.model}` : '; no model is open, so it holds no adapters'}.\n`);
        } finally {
          if (started) bar.stop();
        }
      });
    });
  pack.command('import')
    .description('check a knowledge pack, then add what the knowledge base lacks, all at once (a damaged pack or one for another model changes nothing)')
    .argument('<file>', 'the pack to import')
    .action(async (file: string) => {
      const bar = progressBar('Checking');
      let started = false;
      const options: EngineOptions = { ...engineOptions(program.opts()), events: (event, payload) => {
        if (event !== 'packProgress') return;
        const p = payload as PackProgress;
        if (p.phase !== 'verifying') return;
        if (!started) { bar.start(p.total, p.done); started = true; } else bar.update(p.done);
      } };
      await withEngine(options, false, async (engine) => {
        try {
          const report = await engine.importPack(resolve(file));
          if (started) bar.stop();
          process.stdout.write(`Imported ${report.documentsAdded} new documents (${report.passagesAdded} passages), ${report.adaptersAdded} adapters and ${report.augmentationsAdded} augmentations; ${report.documentsPresent} documents were already here.\n`);
          for (const warning of report.warnings) process.stdout.write(`  note: ${warning}\n`);
        } finally {
          if (started) bar.stop();
        }
      });
    });

  program.command('convert-adapters')
    .description("rewrite the model's adapters with other tensor types, without training again (q3_k: 11% of f32's size)")
    .argument('<type>', ADAPTER_TENSOR_TYPES.join(' | '), parseAdapterType)
    .action(async (type: AdapterTensorType) => {
      const options = engineOptions(program.opts());
      const modelPath = options.modelPath ?? lastModelPath(options.dataDir);
      if (!modelPath) throw new ParamKbError('no-model', 'No model whose adapters to convert: pass --model or set PARAMKB_MODEL.');
      await withEngine(options, false, async (engine) => {
        const baseModel = modelFingerprint(modelPath);
        const bar = progressBar('Converting');
        bar.start(engine.adapters.stats(baseModel).count, 0);
        const result = await engine.adapters.convertAll(baseModel, type, (done) => bar.update(done));
        bar.stop();
        process.stdout.write(`Converted ${result.count} adapters to ${type}: ${formatBytes(result.bytesBefore)} before, ${formatBytes(result.bytesAfter)} after.\n`);
      });
    });

  addRedisFlags(program.command('jobs')
    .description('list the encoding jobs of a model (with --redis, also its distributed queue)')
    .option('--limit <n>', 'rows to show (default 20)', (v) => Number.parseInt(v, 10), 20), false)
    .action(async (opts: RedisFlags & { limit: number }) => {
      // The jobs of one base model, known by its file's fingerprint (--model, else the last
      // model): no model is loaded and nothing is queued; header and rows count the same jobs.
      const options = engineOptions(program.opts());
      const modelPath = options.modelPath ?? lastModelPath(options.dataDir);
      if (modelPath && !existsSync(modelPath)) throw new ParamKbError('model-missing', `The model file ${modelPath} does not exist; pass --model with the model whose jobs to list.`);
      if (!modelPath) {
        process.stdout.write('No model has been opened on this knowledge base, so it has no encoding jobs; pass --model to list a model\'s jobs.\n');
        return;
      }
      const baseModel = modelFingerprint(modelPath);
      const db = openDatabase(databasePath(options.dataDir));
      try {
        const jobs = new JobQueue(db);
        const queue = jobs.status(baseModel);
        process.stdout.write(`${queue.done} done, ${queue.running} running, ${queue.queued} queued, ${queue.failed} failed${queue.paused ? ' (paused)' : ''}\n`);
        for (const r of jobs.list(baseModel, opts.limit)) {
          const running = r.step === REMOTE_STEP ? ' on workers' : ` ${Math.round(r.progress * 100)}% ${r.step ?? ''}`;
          process.stdout.write(`#${r.id} passage ${r.passageId} (${r.title ?? 'deleted'}): ${r.state}${r.state === 'running' ? running : ''}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.error ? ` — ${r.error}` : ''}\n`);
        }
      } finally {
        db.close();
      }      if (opts.redis) {
        const remote = await remoteQueueStatus(redisConnection(opts), baseModel);
        const c = remote.counts;
        process.stdout.write(`Queue ${remote.queueName} on ${redactedRedisUrl(opts.redis)}: ${c.waiting ?? 0} waiting, ${c.active ?? 0} active, ${c.delayed ?? 0} delayed (retry), ${c.completed ?? 0} completed not yet collected, ${c.failed ?? 0} failed; ${remote.workers ?? 'unknown'} workers connected\n`);
      }
    });

  addEncodingFlags(program.command('eval')
    .description('score answers on a JSONL question set (EM, F1, precision, recall per type)')
    .requiredOption('--docs <jsonl>', 'documents: {id, title, text} per line')
    .requiredOption('--questions <jsonl>', 'questions: {id, question, answers, type} per line')
    .addOption(new Option('--mode <modes>', 'one mode or a comma-separated list').argParser(parseModes).default(['context']))
    .addOption(new Option('--k <k>', 'passages retrieved').argParser(parseK).default(3))
    .option('--limit <n>', 'only the first n questions', (v) => Number.parseInt(v, 10))
    .option('--adapter-scale <s>', 'scale of each applied adapter (default 1)', Number.parseFloat)
    .option('--relevance-exponent <e>', `adapters scaled by (BM25 score / best score)^e; 0: equal scales as in the paper (default ${DEFAULT_RELEVANCE_EXPONENT})`, Number.parseFloat)
    .option('--out <file>', 'write the JSON report here (default: stdout)')
    .option('--encode', 'first encode the passages the questions retrieve into adapters (for parametric, combine, auto)')
    .addOption(new Option('--retrieval <methods>', `${RETRIEVAL_METHODS.join(', ')}, or a comma-separated list (default: hybrid, which is bm25 without --embedding-model)`)
      .argParser((v) => v.split(',').map((m) => parseChoice(RETRIEVAL_METHODS)(m.trim()))))
    .addOption(new Option('--hop <policies>', `second hop: ${HOP_POLICIES.join(', ')}, or a comma-separated list (default: auto)`)
      .argParser((v) => v.split(',').map((m) => parseChoice(HOP_POLICIES)(m.trim()))))
    .addOption(new Option('--fusion <fusion>', 'how hybrid fuses BM25 and vectors: rrf or convex (default: convex)').argParser(parseChoice(['rrf', 'convex'] as const)))
    .option('--recall-only', 'measure retrieval recall of the supporting documents only (no answers, no chat model needed)'))
    .action(async (opts: EncodingFlags & { docs: string; questions: string; mode: AnswerMode[]; k: number; limit?: number; out?: string; encode?: boolean; adapterScale?: number; relevanceExponent?: number; retrieval?: RetrievalMethod[]; hop?: HopPolicy[]; fusion?: FusionMethod; recallOnly?: boolean }) => {
      const globals = program.opts<GlobalOptions>();
      const documents = readEvalDocuments(resolve(opts.docs));
      let questions = withSupportingTitles(readEvalQuestions(resolve(opts.questions)), documents);
      if (opts.limit && opts.limit > 0) questions = questions.slice(0, opts.limit);
      // Without --data the corpus goes into a throwaway knowledge base, not the user's.
      const tempDir = globals.data || process.env.PARAMKB_DATA?.trim() ? null : mkdtempSync(join(tmpdir(), 'paramkb-eval-'));
      try {
        const options = { ...engineOptions(globals, tempDir ?? undefined), threads: opts.threads };
        // Every combination of the retrieval methods and hop policies asked for.
        const retrievals: RetrieveOptions[] = (opts.retrieval ?? [undefined]).flatMap((method) => (opts.hop ?? [undefined]).map((hop) => ({ method, hop, fusion: opts.fusion })));
        const reports = await withEngine(options, !opts.recallOnly, async (engine) => {
          engine.importer.importRecords(documents);
          engine.embeddings.notify();
          await embedAll(engine);
          if (opts.recallOnly) {
            const recall: RetrievalReport[] = [];
            for (const retrieval of retrievals) recall.push(await evaluateRetrieval(engine, questions, { k: opts.k, retrieval }));
            return recall;
          }
          if (opts.encode) {
            // An answer applies only its top-k passages' adapters, so encoding the passages the
            // questions retrieve gives the same scores as encoding the whole corpus.
            const needed = new Set<number>();
            for (const retrieval of retrievals) {
              for (const q of questions) for (const h of (await engine.retriever.retrieve(q.question, opts.k, retrieval)).hits) needed.add(h.passageId);
            }
            process.stderr.write(`${await encodePassages(options.dataDir, engine.loadedModelPath()!, options.profilePath, opts, { passageIds: [...needed] })}\n`);
          }
          const out: EvalReport[] = [];
          for (const retrieval of retrievals) {
            for (const mode of opts.mode) {
              const bar = progressBar(`eval ${mode}`);
              bar.start(questions.length, 0);
              out.push(await evaluate(engine, questions, { mode, k: opts.k, adapterScale: opts.adapterScale, relevanceExponent: opts.relevanceExponent, retrieval, onProgress: (done) => bar.update(done) }));
              bar.stop();
            }
          }
          return out;
        });
        const json = JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2);
        if (opts.out) writeFileSync(resolve(opts.out), `${json}\n`);
        else process.stdout.write(`${json}\n`);
        if (opts.recallOnly) printRecallTable(reports as RetrievalReport[]);
        else printEvalTable(reports as EvalReport[]);
      } finally {
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      }
    });

  program.command('compare')
    .description('F1 difference of two eval reports on their common questions, with a 95% paired-bootstrap interval')
    .argument('<a>', 'the baseline: report.json, or report.json:<mode> for a report of several modes')
    .argument('<b>', 'the report compared with it, the same way')
    .action((a: string, b: string) => {
      const [ra, rb] = [readReport(a), readReport(b)];
      printComparisons([{ label: `${b} − ${a}`, a: ra, b: rb }]);
    });

  program.command('serve')
    .description('serve the app to a local browser (127.0.0.1, with a random token)')
    .option('--port <port>', 'TCP port (default: a free one)', (v) => Number.parseInt(v, 10))
    .action(async (opts: { port?: number }) => {
      const { runServe } = await import('./serve.js');
      const options = engineOptions(program.opts());
      const handle = await runServe({ dataDir: options.dataDir, modelPath: options.modelPath, port: opts.port });
      process.stdout.write(`ParamKB is running at ${handle.url}\nPress Ctrl+C to stop.\n`);
      const stop = () => { void handle.close().then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  return program;
}

/** `paramkb worker`: encodes jobs until Ctrl+C (finishes the passages in hand) or a second Ctrl+C (drops them). */
async function runWorker(options: { modelPath: string; profilePath?: string; connection: RedisOptions; redisUrl: string; concurrency: number; threads?: number; device?: string; lockSeconds: number }): Promise<void> {
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const shown = new Map<string, string>();
  let lastError = '';
  const worker = await startEncodeWorker({
    ...options,
    onEvent: (e) => {
      switch (e.type) {
        case 'started': lastError = ''; log(`passage ${e.passageId} (job ${e.jobId}): started, attempt ${e.attempt}`); break;
        case 'progress': {
          // One line per step and quarter, not per optimizer step.
          const mark = `${e.step} ${Math.floor(e.progress * 4) * 25}%`;
          if (shown.get(e.jobId) !== mark) { shown.set(e.jobId, mark); log(`passage ${e.passageId} (job ${e.jobId}): ${mark}`); }
          break;
        }
        case 'completed': shown.delete(e.jobId); log(`passage ${e.passageId} (job ${e.jobId}): done in ${e.seconds.toFixed(1)} s`); break;
        case 'failed': shown.delete(e.jobId); log(`passage ${e.passageId ?? '?'} (job ${e.jobId}): failed${e.final ? '' : ', will retry'}: ${e.error}`); break;
        case 'device': log(`encoding device now: ${deviceLines(e.device, ' ')}`); break;
        case 'error':
          // A Redis that is away repeats its error at every reconnection attempt: say it once.
          if (e.error !== lastError) log(`error: ${e.error}`);
          lastError = e.error;
          break;
      }
    },
  });
  log(`worker ${process.pid} on ${redactedRedisUrl(options.redisUrl)}, queue ${worker.queueName}: ${describeModel(worker.model)}, concurrency ${options.concurrency}${options.threads ? `, ${options.threads} threads` : ''}. Ctrl+C stops after the passages in hand.`);
  log(`encoding device: ${deviceLines(worker.device(), ' ')}`);
  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = () => {
      if (stopping) {
        log('stopping now; the passages in hand go to other workers.');
        void worker.close(true).finally(() => process.exit(130));
        return;
      }
      stopping = true;
      log('finishing the passages in hand (Ctrl+C again to stop now)...');
      void worker.close().then(resolveStop, resolveStop);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    const e = error as Error & { code?: string; expected?: boolean };
    process.stderr.write(`paramkb: ${e.message}\n`);
    if (process.env.PARAMKB_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = e.expected ? 1 : 2;
  }
}
