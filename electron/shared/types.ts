// Plain data types shared by every process: the core, the headless server, Electron main,
// the preload and the renderer. Pure TypeScript: no node, electron or DOM imports.

/** How a question is answered (DESIGN §1-§2). */
/**
 * How an answer uses the retrieved passages (DESIGN §1): 'one-pass' is the paper's combine
 * (adapters applied while the passages are in the prompt); 'combine' answers twice and keeps
 * the likelier answer.
 */
export type AnswerMode = 'auto' | 'parametric' | 'context' | 'combine' | 'one-pass' | 'closed-book';
export const ANSWER_MODES: readonly AnswerMode[] = ['auto', 'parametric', 'context', 'combine', 'one-pass', 'closed-book'];

/**
 * Where a document stands: searchable at once, adapters arrive in the background. 'queued':
 * its passages wait for the encoder; 'encoding': one of them is being encoded now.
 */
export type DocumentStatus = 'indexed' | 'queued' | 'encoding' | 'encoded' | 'failed';

export interface DocumentSummary {
  id: number;
  title: string;
  /** Absolute path of the imported file, or null for uploads without a path. */
  path: string | null;
  format: string;
  sizeBytes: number;
  passageCount: number;
  encodedCount: number;
  status: DocumentStatus;
  /** Why encoding failed, when status is 'failed'. */
  error: string | null;
  importedAt: string;
}

export interface PassageView {
  id: number;
  documentId: number;
  position: number;
  text: string;
  hasAdapter: boolean;
}

export interface DocumentDetail extends DocumentSummary {
  passages: PassageView[];
}

export interface ImportFailure {
  path: string;
  /** Stable machine-readable reason, e.g. 'unsupported', 'empty', 'too-large', 'corrupt'. */
  code: string;
  /** A sentence a user can act on. */
  reason: string;
}

/** A file that was not imported, as kept until the user dismisses the list. */
export interface RecordedImportFailure extends ImportFailure {
  id: number;
  at: string;
}

export interface ImportFailureList {
  /** All files not imported since the list was last dismissed. */
  total: number;
  /** The newest of them (up to 200). */
  items: RecordedImportFailure[];
}

/** What encoding passages will cost on this computer. */
export interface EncodingEstimate {
  passages: number;
  secondsPerPassage: number;
  seconds: number;
  /** True when the rate was measured on passages this model encoded; false for the rough guess from the model's size. */
  measured: boolean;
}

/**
 * Which passages get encoded: all of them (in the background), only those that questions
 * retrieve (on demand), or none for now (paused).
 */
export type EncodingPolicy = 'all' | 'on-demand' | 'paused';
export const ENCODING_POLICIES: readonly EncodingPolicy[] = ['all', 'on-demand', 'paused'];

export interface ImportReport {
  added: number;
  updated: number;
  unchanged: number;
  failed: ImportFailure[];
  /** Files in imported folders that were passed over: unsupported types, links back into the folder. */
  skipped: ImportFailure[];
  documentIds: number[];
  passages: number;
  /** What encoding the new passages will cost, when a model is loaded. */
  encoding?: EncodingEstimate | null;
}

export interface ImportProgress {
  done: number;
  total: number;
  currentPath: string;
}

export interface PackExportReport {
  path: string;
  documents: number;
  passages: number;
  adapters: number;
  bytes: number;
  /** The base model of the adapters, in words, or null when the pack has none. */
  model: string | null;
}

export interface PackImportReport {
  documentsAdded: number;
  /** Documents of the pack already in the knowledge base (same content): not added twice. */
  documentsPresent: number;
  passagesAdded: number;
  adaptersAdded: number;
  augmentationsAdded: number;
  vectorsAdded: number;
  /** The base model of the pack's adapters, in words, or null when it has none. */
  model: string | null;
  warnings: string[];
}

export interface PackProgress {
  operation: 'export' | 'import';
  /** export: writing (done/total in passages); import: verifying (bytes), then importing. */
  phase: 'writing' | 'verifying' | 'importing';
  done: number;
  total: number;
}

export interface SearchHit {
  passageId: number;
  documentId: number;
  documentTitle: string;
  position: number;
  /** Relevance, larger is better: BM25's score, or the fused score of hybrid retrieval (best 1). */
  score: number;
  /** Set on a passage found by the second hop, through a name another passage introduced. */
  via?: string;
  /** The passage with the matched terms wrapped in [[ and ]]. */
  snippet: string;
  text: string;
}

export type PassageUse = 'adapter' | 'context' | 'both';

export interface AnswerSource {
  passageId: number;
  documentId: number;
  documentTitle: string;
  text: string;
  score: number;
  /** How the answer used the passage: its adapter in the weights, its text in the prompt, or both. */
  usedAs: PassageUse;
}

/** One of combine's two answers. */
export interface CombineCandidate {
  answer: string;
  /** Its log-probability after the passages plus under the adapters; null when both answers agree. */
  logProb: number | null;
}

/** Combine's answer from the passages (in the prompt, no adapters), from the adapters (question alone), and which was kept. */
export interface CombineCandidates {
  passages: CombineCandidate;
  adapters: CombineCandidate;
  kept: 'passages' | 'adapters';
}

export interface ChatSummary {
  id: number;
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface ChatMessage {
  id: number;
  chatId: number;
  role: 'user' | 'assistant';
  text: string;
  mode: AnswerMode | null;
  sources: AnswerSource[];
  /** Combine's two answers, for an answer in combine mode that had adapters; else null. */
  candidates: CombineCandidates | null;
  /** Set when the answer stopped early: 'cancelled' or an error message. */
  error: string | null;
  createdAt: string;
}

export interface AskRequest {
  chatId: number;
  question: string;
  mode: AnswerMode;
  k: number;
}

/**
 * Whether this installation can encode passages into adapters. Not where the native trainer
 * did not build or does not load (e.g. a platform without a C++ toolchain at install time):
 * then `reason` says why, no encoding job is queued, and answers use passages in context.
 */
export type EncodingAvailability = { available: true } | { available: false; reason: string };

export interface EncodingQueueStatus {
  availability: EncodingAvailability;
  paused: boolean;
  queued: number;
  running: number;
  done: number;
  failed: number;
  total: number;
  /** The job being encoded: its passage and document, its stage in words (e.g. "training: step 12 of 45") and 0..1. */
  current: { passageId: number; documentId: number; position: number; documentTitle: string; step: string; progress: number } | null;
  /** Mean encoding seconds per passage over the last finished ones; null before the first. */
  secondsPerPassage: number | null;
  etaSeconds: number | null;
  /** Why nothing is encoded here now (another process encodes this knowledge base), else null. */
  blocked: string | null;
  /** The device this process's encoder trains on, as it last reported; null when no encoder runs here. */
  device: EncodingDevice | null;
}

/** The compute device an encoder trains on. */
export interface EncodingDevice {
  /** ggml's name: 'CPU', 'Vulkan0', 'CUDA0'. */
  name: string;
  /** What the driver calls it, e.g. 'NVIDIA GeForce RTX 4070'. */
  description: string;
  /** True on a GPU (an integrated one too), false on the CPU. */
  gpu: boolean;
  /** Why encoding runs on the CPU although a GPU is present (too little memory, a GPU failure, a setting naming a device that is gone), else null. */
  note: string | null;
}

/** The last device a knowledge base was encoded on, kept for `paramkb status`. */
export interface LastEncodingDevice extends EncodingDevice {
  /** When the encoder reported it (ISO 8601). */
  at: string;
}

/** A compute device the encoder can train on (the trainer's list: the CPU, then the GPUs found). */
export interface ComputeDevice {
  /** ggml's name, what the Encoding device setting holds: 'CPU', 'Vulkan0', 'CUDA0'. */
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accel';
  memoryFree: number;
  memoryTotal: number;
}

export interface ComputeDeviceList {
  devices: ComputeDevice[];
  /** Why GPU backends on this machine did not load (a missing driver), or why the trainer is unavailable. */
  failures: string[];
}

export interface ModelInfo {
  path: string | null;
  name: string | null;
  architecture: string | null;
  sizeBytes: number | null;
  contextSize: number | null;
  /** 'cuda', 'vulkan', 'metal' when layers of the model run on a GPU, false when it runs on the CPU. */
  gpu: string | false;
  /** The GPUs used, when `gpu` is set. */
  gpuDevices: string[];
  /** Why a GPU backend on this machine is not used (none found, a software renderer, 0 layers), else null. */
  computeNote: string | null;
  /** Layers on the GPU (the setting, 'auto', when no model is loaded). */
  gpuLayers: number | 'auto';
  /** The model's layers, when one is loaded. */
  layerCount: number | null;
  threads: number;
  loaded: boolean;
  error: string | null;
}

export interface RecommendedModel {
  id: string;
  name: string;
  uri: string;
  sizeBytes: number;
  description: string;
  /** Memory the app needs with this model, encoding included (what a user must have free). */
  memoryBytes: number;
  /**
   * Seconds to encode one passage (augmentation and training) on both cores of a 2-core laptop
   * CPU; chat models only (an embedding model does not encode).
   */
  encodingSecondsPerPassage?: number;
  /** 'embedding' for models that embed passages for vector search; absent for chat models. */
  kind?: 'embedding';
}

/** The embedding model and how many passages have its vectors (vector search covers those). */
export interface EmbeddingStatus {
  model: { path: string; name: string; dimensions: number; sizeBytes: number } | null;
  embedded: number;
  total: number;
  /** True while passages are being embedded in the background. */
  running: boolean;
  /** Why embedding stopped, or why the embedding model could not be loaded. */
  error: string | null;
}

/** How passages are found: BM25 keywords, embedding similarity, or both fused. */
export type RetrievalMethod = 'bm25' | 'vector' | 'hybrid';
export const RETRIEVAL_METHODS: readonly RetrievalMethod[] = ['bm25', 'vector', 'hybrid'];

/** When retrieval takes a second hop through the names the first passages introduce. */
export type HopPolicy = 'auto' | 'always' | 'never';
export const HOP_POLICIES: readonly HopPolicy[] = ['auto', 'always', 'never'];

export interface DownloadProgress {
  id: string;
  downloadedBytes: number;
  totalBytes: number;
  state: 'downloading' | 'done' | 'failed' | 'cancelled';
  error: string | null;
}

export interface Settings {
  /** Passages retrieved per question. Default 3. */
  topK: number;
  /** Default 'auto'. */
  defaultMode: AnswerMode;
  /** LoRA rank of new adapters. Default 2. */
  rank: number;
  /** LoRA alpha of new adapters. Default 32. */
  alpha: number;
  /** Learning rate of new adapters. Default: ADAPTER_DEFAULTS (shared/adapterDefaults.ts). */
  learningRate: number;
  /** Training epochs of new adapters. Default 3. */
  epochs: number;
  /** GPU layers to offload, or 'auto'. Default 'auto'. */
  gpuLayers: number | 'auto';
  /** Inference threads; 0 picks from the machine. Default 0. */
  threads: number;
  /** Threads of background encoding (augmentation and training); 0 uses `threads`. Default 0. */
  encoderThreads: number;
  /**
   * Where encoding trains: 'auto' (the first real GPU with room for the model, else the CPU),
   * 'cpu', or a device name from getEncodingDevices ('CUDA0', 'Vulkan0'). Default 'auto'.
   */
  encoderDevice: string;
  /** Which passages are encoded into adapters. Default 'all'. */
  encodingPolicy: EncodingPolicy;
  theme: 'system' | 'light' | 'dark';
  /** Folder of the database and adapters (read-only here; moved by the shell). */
  dataDir: string;
}

/** An error as it crosses a process boundary (DESIGN §6.4). */
export interface SerializedError {
  name: string;
  message: string;
  code: string;
  /** True for expected errors a user can act on (bad file, wrong model); false for bugs. */
  expected: boolean;
  cause?: SerializedError;
}
