// Plain data types shared by every process: the core, the headless server, Electron main,
// the preload and the renderer. Pure TypeScript: no node, electron or DOM imports.

/** How a question is answered (DESIGN §1-§2). */
export type AnswerMode = 'auto' | 'parametric' | 'context' | 'combine' | 'closed-book';
export const ANSWER_MODES: readonly AnswerMode[] = ['auto', 'parametric', 'context', 'combine', 'closed-book'];

/** Where a document stands: searchable at once, adapters arrive in the background. */
export type DocumentStatus = 'indexed' | 'encoding' | 'encoded' | 'failed';

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

export interface ImportReport {
  added: number;
  updated: number;
  unchanged: number;
  failed: ImportFailure[];
  documentIds: number[];
  passages: number;
}

export interface ImportProgress {
  done: number;
  total: number;
  currentPath: string;
}

export interface SearchHit {
  passageId: number;
  documentId: number;
  documentTitle: string;
  position: number;
  /** BM25 relevance, larger is better. */
  score: number;
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
  current: { passageId: number; documentTitle: string; step: string; progress: number } | null;
  etaSeconds: number | null;
}

export interface ModelInfo {
  path: string | null;
  name: string | null;
  architecture: string | null;
  sizeBytes: number | null;
  contextSize: number | null;
  /** 'cuda', 'vulkan', 'metal' or false when inference runs on the CPU. */
  gpu: string | false;
  gpuLayers: number | 'auto';
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
}

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
  /** Learning rate of new adapters. Default 2e-3 (the paper's 3e-4 barely moves a small model; see README). */
  learningRate: number;
  /** Training epochs of new adapters. Default 3. */
  epochs: number;
  /** GPU layers to offload, or 'auto'. Default 'auto'. */
  gpuLayers: number | 'auto';
  /** Inference threads; 0 picks from the machine. Default 0. */
  threads: number;
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
