// What travels through Redis in distributed encoding (DESIGN §7): one job per passage (its text,
// its augmentation when it has one, the hyperparameters and the base model's identity) and the
// adapter a worker returns. Both sides treat what they receive as untrusted: every field is
// checked here, unknown fields are refused, and a worker does nothing with a job but encode it.
import { createHash } from 'node:crypto';
import { ParamKbError } from '../../shared/errors.js';
import { validateAugmentation, type Augmentation } from '../encoding/augmentation.js';
import { TRAINING_SEQUENCE_KINDS, type TrainingSequence } from '../encoding/trainingSequences.js';
import { FieldChecks } from '../fieldChecks.js';
import type { ModelIdentity } from '../llm/modelIdentity.js';
import { TRAINING_OBJECTIVES, type EncodingConfig } from '../encoding/passageEncoder.js';
import { isTrainingSet } from '../encoding/trainingSequences.js';
import { ADAPTER_TENSOR_TYPES, LORA_TARGETS } from '../trainer/LoraTrainer.js';

/** Version of the job and result layout; a worker refuses any other. */
export const ENCODE_JOB_FORMAT = 1;

/** Largest adapter a result may carry (a rank-64 F32 adapter of a 1B model is ~60 MB; the default is 0.44 MB). */
export const MAX_RESULT_ADAPTER_BYTES = 64 * 1024 * 1024;

/** Longest passage text a job may carry (passages are 100-200 words). */
const MAX_TEXT_CHARS = 100_000;

/**
 * The hyperparameters a worker trains with: AdapterTraining without a warm-up init, plus the
 * QA pairs to generate when the job has no augmentation.
 */
export type RemoteTraining = Pick<EncodingConfig, 'rank' | 'alpha' | 'lr' | 'epochs' | 'targets' | 'loraLayers' | 'seed' | 'outType' | 'qaCount' | 'objective' | 'trainingSet' | 'distillTopK' | 'distillWeight'>;

export interface EncodeJobData {
  format: typeof ENCODE_JOB_FORMAT;
  /** The publishing knowledge base (a random id), so several can share one Redis. */
  knowledgeBase: string;
  /** The passage's id in the publishing knowledge base. */
  passageId: number;
  text: string;
  /** The stored augmentation, or null: the worker then generates one and returns it. */
  augmentation: Augmentation | null;
  training: RemoteTraining;
  model: Pick<ModelIdentity, 'fingerprint' | 'name' | 'fileName' | 'sizeBytes'>;
  /** promptProfileFingerprint of the profile the training sequences are rendered with. */
  promptProfile: string;
}

export interface EncodeJobResult {
  format: typeof ENCODE_JOB_FORMAT;
  passageId: number;
  modelFingerprint: string;
  /** The adapter file, base64. */
  adapter: string;
  sha256: string;
  /** The augmentation trained on (the job's, or the one the worker generated). */
  augmentation: Augmentation;
  sequences: TrainingSequence['kind'][];
  trainLoss: number | null;
  augmentSeconds: number;
  trainSeconds: number;
  trainTokens: number;
  /** The worker's name (host and process id), for logs. */
  worker: string;
}

export class InvalidEncodeJobError extends ParamKbError {
  override name = 'InvalidEncodeJobError';
  constructor(message: string) { super('invalid-encode-job', message); }
}

/** The queue of a base model: workers listen only to the queue of the model file they hold. */
export function encodeQueueName(modelFingerprint: string): string {
  return `paramkb-encode-${modelFingerprint}`;
}

/**
 * The BullMQ job id of a job: a hash of everything in it, so publishing the same work again
 * (a restarted `encode --redis`) finds the job already there instead of adding a second one.
 */
export function encodeJobId(data: EncodeJobData): string {
  return `pkb-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 40)}`;
}

// ---- validation ----

const check: FieldChecks = new FieldChecks((path, what) => new InvalidEncodeJobError(`Invalid encoding job: ${path} ${what}.`));

function trainingSetOf(value: unknown): string {
  const set = check.text('job.training.trainingSet', value, 100, 1);
  if (!isTrainingSet(set)) check.fail('job.training.trainingSet', 'must be "paper" or steps such as "P1,C1,C2"');
  return set;
}

function validateTraining(value: unknown): RemoteTraining {
  const o = check.record('job.training', value, ['rank', 'alpha', 'lr', 'epochs', 'targets', 'seed', 'outType', 'qaCount', 'objective', 'distillTopK', 'distillWeight'], ['loraLayers', 'trainingSet']);
  const targets = check.list('job.training.targets', o.targets, LORA_TARGETS.length, (p, v) => check.oneOf(p, v, LORA_TARGETS));
  if (targets.length === 0 || new Set(targets).size !== targets.length) check.fail('job.training.targets', 'must name each matrix at most once, and at least one');
  return {
    rank: check.integer('job.training.rank', o.rank, 1, 64),
    alpha: check.number('job.training.alpha', o.alpha, 0.001, 4096),
    lr: check.number('job.training.lr', o.lr, 1e-7, 1),
    epochs: check.integer('job.training.epochs', o.epochs, 1, 50),
    targets,
    // absent in jobs of publishers older than the setting: every layer, as they trained
    loraLayers: o.loraLayers === undefined ? 1 : check.number('job.training.loraLayers', o.loraLayers, 0.01, 1),
    seed: check.integer('job.training.seed', o.seed, 0, 0xffffffff),
    outType: check.oneOf('job.training.outType', o.outType, ADAPTER_TENSOR_TYPES),
    qaCount: check.integer('job.training.qaCount', o.qaCount, 1, 10),
    objective: check.oneOf('job.training.objective', o.objective, TRAINING_OBJECTIVES),
    // absent in jobs of publishers older than the setting: the paper's set, as they trained
    trainingSet: o.trainingSet === undefined ? 'paper' : trainingSetOf(o.trainingSet),
    distillTopK: check.integer('job.training.distillTopK', o.distillTopK, 1, 1024),
    distillWeight: check.number('job.training.distillWeight', o.distillWeight, 0, 1),
  };
}

/** Checks a job's data field by field; returns a clean copy or throws InvalidEncodeJobError. */
export function validateEncodeJobData(value: unknown): EncodeJobData {
  const o = check.record('job', value, ['format', 'knowledgeBase', 'passageId', 'text', 'augmentation', 'training', 'model', 'promptProfile']);
  if (o.format !== ENCODE_JOB_FORMAT) {
    check.fail('job.format', `is ${JSON.stringify(o.format)}; this worker reads format ${ENCODE_JOB_FORMAT} (update ParamKB on the machine that is older)`);
  }
  const model = check.record('job.model', o.model, ['fingerprint', 'name', 'fileName', 'sizeBytes']);
  if (typeof o.knowledgeBase !== 'string' || !/^[0-9a-f-]{36}$/.test(o.knowledgeBase)) check.fail('job.knowledgeBase', 'must be a UUID');
  return {
    format: ENCODE_JOB_FORMAT,
    knowledgeBase: o.knowledgeBase,
    passageId: check.integer('job.passageId', o.passageId, 1, Number.MAX_SAFE_INTEGER),
    text: check.text('job.text', o.text, MAX_TEXT_CHARS, 1),
    augmentation: o.augmentation === null ? null : validateAugmentation(check, 'job.augmentation', o.augmentation),
    training: validateTraining(o.training),
    model: {
      fingerprint: check.hex('job.model.fingerprint', model.fingerprint, 32),
      name: check.text('job.model.name', model.name, 300, 1),
      fileName: check.text('job.model.fileName', model.fileName, 300, 1),
      sizeBytes: check.integer('job.model.sizeBytes', model.sizeBytes, 1, Number.MAX_SAFE_INTEGER),
    },
    promptProfile: check.hex('job.promptProfile', o.promptProfile, 32),
  };
}

/**
 * Checks a worker's result against the job it answers and decodes its adapter. A result for
 * another passage or model, a checksum that does not match, or a file that is not GGUF is refused.
 */
export function validateEncodeJobResult(value: unknown, job: { passageId: number; modelFingerprint: string }): { result: EncodeJobResult; adapter: Buffer } {
  const o = check.record('result', value, ['format', 'passageId', 'modelFingerprint', 'adapter', 'sha256', 'augmentation', 'sequences', 'trainLoss', 'augmentSeconds', 'trainSeconds', 'trainTokens', 'worker']);
  if (o.format !== ENCODE_JOB_FORMAT) check.fail('result.format', `must be ${ENCODE_JOB_FORMAT}`);
  const passageId = check.integer('result.passageId', o.passageId, 1, Number.MAX_SAFE_INTEGER);
  if (passageId !== job.passageId) check.fail('result.passageId', `is ${passageId}, but the job was for passage ${job.passageId}`);
  const modelFingerprint = check.hex('result.modelFingerprint', o.modelFingerprint, 32);
  if (modelFingerprint !== job.modelFingerprint) check.fail('result.modelFingerprint', 'is not the model of the job');
  const encoded = check.text('result.adapter', o.adapter, Math.ceil(MAX_RESULT_ADAPTER_BYTES / 3) * 4, 8);
  const adapter = Buffer.from(encoded, 'base64');
  const sha256 = check.hex('result.sha256', o.sha256, 64);
  if (createHash('sha256').update(adapter).digest('hex') !== sha256) check.fail('result.adapter', 'does not match its sha256 (damaged in transit)');
  if (adapter.subarray(0, 4).toString('latin1') !== 'GGUF') check.fail('result.adapter', 'is not a GGUF file');
  const result: EncodeJobResult = {
    format: ENCODE_JOB_FORMAT,
    passageId,
    modelFingerprint,
    adapter: encoded,
    sha256,
    augmentation: validateAugmentation(check, 'result.augmentation', o.augmentation),
    sequences: check.list('result.sequences', o.sequences, 64, (p, v) => check.oneOf(p, v, TRAINING_SEQUENCE_KINDS)),
    trainLoss: o.trainLoss === null ? null : check.number('result.trainLoss', o.trainLoss, 0, 1e6),
    augmentSeconds: check.number('result.augmentSeconds', o.augmentSeconds, 0, 1e7),
    trainSeconds: check.number('result.trainSeconds', o.trainSeconds, 0, 1e7),
    trainTokens: check.integer('result.trainTokens', o.trainTokens, 0, Number.MAX_SAFE_INTEGER),
    worker: check.text('result.worker', o.worker, 300),
  };
  return { result, adapter };
}
