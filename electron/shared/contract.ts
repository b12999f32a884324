// The one API contract between the renderer and the engine. Electron main + preload (IPC over
// MessagePorts) and the headless server (WebSocket) both serve exactly this; the renderer only
// ever sees it through createApiClient. Adding a method means adding it to ParamKbApi and to
// apiArgs below; nothing else restates its signature.
import type {
  AnswerMode, AskRequest, ChatMessage, ChatSummary, ComputeDeviceList, DocumentDetail, DocumentSummary, DownloadProgress, EmbeddingStatus,
  EncodingQueueStatus, ImportFailureList, ImportProgress, ImportReport, ModelInfo, PackExportReport, PackImportReport, PackProgress, RecommendedModel, SearchHit,
  SerializedError, Settings,
} from './types.js';
import { ANSWER_MODES, ENCODING_POLICIES, type EncodingPolicy } from './types.js';
import { encoderDeviceSetting } from './devices.js';

/** A file picked or dropped in the renderer, sent by content (browsers have no file paths). */
export interface UploadedFile {
  name: string;
  /** File content, base64 encoded. */
  base64: string;
}

export interface ParamKbApi {
  // Knowledge
  importPaths(paths: string[]): Promise<ImportReport>;
  importUploads(files: UploadedFile[]): Promise<ImportReport>;
  /** Files not imported (failed or skipped) since the user last dismissed them. */
  listImportFailures(): Promise<ImportFailureList>;
  dismissImportFailures(): Promise<void>;
  listDocuments(): Promise<DocumentSummary[]>;
  getDocument(id: number): Promise<DocumentDetail>;
  deleteDocument(id: number): Promise<void>;
  reencodeDocument(id: number): Promise<void>;
  search(query: string, k: number): Promise<SearchHit[]>;
  /**
   * Writes a knowledge pack (a .paramkb file) of some documents (all when null) with their
   * passages, augmentations and the open model's adapters; progress arrives as packProgress.
   */
  exportPack(path: string, documentIds: number[] | null): Promise<PackExportReport>;
  /** Verifies a knowledge pack, then merges it in one step; a damaged or foreign pack changes nothing. */
  importPack(path: string): Promise<PackImportReport>;
  // Chat
  listChats(): Promise<ChatSummary[]>;
  createChat(title: string): Promise<ChatSummary>;
  renameChat(id: number, title: string): Promise<ChatSummary>;
  deleteChat(id: number): Promise<void>;
  getMessages(chatId: number): Promise<ChatMessage[]>;
  /** Starts an answer; tokens arrive as answerToken events, then answerDone or answerError. */
  ask(request: AskRequest): Promise<{ requestId: string; userMessage: ChatMessage }>;
  cancelAnswer(requestId: string): Promise<void>;
  // Encoding queue
  getEncodingQueue(): Promise<EncodingQueueStatus>;
  pauseEncoding(): Promise<EncodingQueueStatus>;
  resumeEncoding(): Promise<EncodingQueueStatus>;
  /**
   * The devices the encoder can train on (the trainer's list; read-only). Where the trainer is
   * unavailable, just the CPU, with the reason in `failures`.
   */
  getEncodingDevices(): Promise<ComputeDeviceList>;
  // Model
  getModel(): Promise<ModelInfo>;
  openModel(path: string): Promise<ModelInfo>;
  getRecommendedModels(): Promise<RecommendedModel[]>;
  downloadModel(id: string): Promise<void>;
  cancelDownload(id: string): Promise<void>;
  // Embedding model (vector search)
  getEmbeddingStatus(): Promise<EmbeddingStatus>;
  openEmbeddingModel(path: string): Promise<EmbeddingStatus>;
  // Settings
  getSettings(): Promise<Settings>;
  updateSettings(patch: Partial<Settings>): Promise<Settings>;
}

export interface ParamKbEvents {
  answerToken: { requestId: string; chatId: number; text: string };
  answerDone: { requestId: string; chatId: number; message: ChatMessage };
  answerError: { requestId: string; chatId: number; error: SerializedError; message: ChatMessage | null };
  importProgress: ImportProgress;
  packProgress: PackProgress;
  documentsChanged: Record<string, never>;
  encodingQueueChanged: EncodingQueueStatus;
  modelChanged: ModelInfo;
  downloadProgress: DownloadProgress;
  /** The embedding model changed or background embedding progressed. */
  embeddingProgress: EmbeddingStatus;
  /** A utility process (engine or encoder) died and is being restarted. */
  processCrashed: { process: 'engine' | 'encoder'; message: string };
}

/** The file name extension of knowledge packs. */
export const PACK_FILE_EXTENSION = '.paramkb';

export type ApiMethod = keyof ParamKbApi;
export type ApiEvent = keyof ParamKbEvents;

/** Thrown by the validators when a caller sends arguments of the wrong shape. */
export class InvalidArgumentsError extends Error {
  override name = 'InvalidArgumentsError';
  readonly code = 'invalid-arguments';
}

// ---- runtime validation: every argument that crosses a process boundary is checked here ----

function fail(method: string, what: string): never {
  throw new InvalidArgumentsError(`${method}: ${what}`);
}
function str(method: string, v: unknown, maxLength = 100_000): string {
  if (typeof v !== 'string' || v.length > maxLength) fail(method, `expected a string of at most ${maxLength} characters`);
  return v;
}
function id(method: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(method, 'expected a non-negative integer id');
  return v;
}
function intIn(method: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(method, `expected an integer in [${min}, ${max}]`);
  return v;
}
function numIn(method: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(method, `expected a number in [${min}, ${max}]`);
  return v;
}
function mode(method: string, v: unknown): AnswerMode {
  if (!ANSWER_MODES.includes(v as AnswerMode)) fail(method, `mode must be one of ${ANSWER_MODES.join(', ')}`);
  return v as AnswerMode;
}
function obj(method: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(method, 'expected an object');
  return v as Record<string, unknown>;
}
function none(method: string, args: unknown[]): [] {
  if (args.length !== 0) fail(method, 'takes no arguments');
  return [];
}
function settingsPatch(method: string, v: unknown): Partial<Settings> {
  const o = obj(method, v);
  const out: Partial<Settings> = {};
  for (const [key, value] of Object.entries(o)) {
    switch (key) {
      case 'topK': out.topK = intIn(method, value, 1, 20); break;
      case 'defaultMode': out.defaultMode = mode(method, value); break;
      case 'rank': out.rank = intIn(method, value, 1, 64); break;
      case 'alpha': out.alpha = numIn(method, value, 0.001, 4096); break;
      case 'learningRate': out.learningRate = numIn(method, value, 1e-7, 1); break;
      case 'epochs': out.epochs = intIn(method, value, 1, 50); break;
      case 'gpuLayers': out.gpuLayers = value === 'auto' ? 'auto' : intIn(method, value, 0, 1000); break;
      case 'threads': out.threads = intIn(method, value, 0, 512); break;
      case 'encoderThreads': out.encoderThreads = intIn(method, value, 0, 512); break;
      case 'encoderDevice': {
        const device = typeof value === 'string' ? encoderDeviceSetting(value) : null;
        if (device === null) fail(method, "encoderDevice must be 'auto', 'cpu' or a device name (up to 64 letters, digits, '_', '.' or '-')");
        out.encoderDevice = device; break;
      }
      case 'encodingPolicy':
        if (!ENCODING_POLICIES.includes(value as EncodingPolicy)) fail(method, `encodingPolicy must be one of ${ENCODING_POLICIES.join(', ')}`);
        out.encodingPolicy = value as EncodingPolicy; break;
      case 'theme':
        if (value !== 'system' && value !== 'light' && value !== 'dark') fail(method, 'theme must be system, light or dark');
        out.theme = value; break;
      default: fail(method, `unknown setting '${key}'`);
    }
  }
  return out;
}

type ArgsValidators = { [K in ApiMethod]: (args: unknown[]) => Parameters<ParamKbApi[K]> };

/** Checks and narrows the arguments of each method. Typed so that a method cannot lack one. */
export const apiArgs: ArgsValidators = {
  importPaths: (a) => {
    const paths = a[0];
    if (!Array.isArray(paths) || paths.length === 0 || paths.length > 10_000) fail('importPaths', 'expected 1 to 10000 paths');
    return [paths.map((p) => str('importPaths', p, 4096))];
  },
  importUploads: (a) => {
    const files = a[0];
    if (!Array.isArray(files) || files.length === 0 || files.length > 1000) fail('importUploads', 'expected 1 to 1000 files');
    return [files.map((f) => {
      const o = obj('importUploads', f);
      return { name: str('importUploads', o.name, 1024), base64: str('importUploads', o.base64, 400 * 1024 * 1024) };
    })];
  },
  listImportFailures: (a) => none('listImportFailures', a),
  dismissImportFailures: (a) => none('dismissImportFailures', a),
  listDocuments: (a) => none('listDocuments', a),
  getDocument: (a) => [id('getDocument', a[0])],
  deleteDocument: (a) => [id('deleteDocument', a[0])],
  reencodeDocument: (a) => [id('reencodeDocument', a[0])],
  search: (a) => [str('search', a[0], 10_000), intIn('search', a[1], 1, 100)],
  exportPack: (a) => {
    const path = str('exportPack', a[0], 4096);
    // The engine writes only files named as packs, whoever asks.
    if (!path.endsWith(PACK_FILE_EXTENSION)) fail('exportPack', `the file name must end in ${PACK_FILE_EXTENSION}`);
    const ids = a[1];
    if (ids !== null && (!Array.isArray(ids) || ids.length > 100_000)) fail('exportPack', 'expected null or a list of at most 100000 document ids');
    return [path, ids === null ? null : ids.map((v) => id('exportPack', v))];
  },
  importPack: (a) => [str('importPack', a[0], 4096)],
  listChats: (a) => none('listChats', a),
  createChat: (a) => [str('createChat', a[0], 200)],
  renameChat: (a) => [id('renameChat', a[0]), str('renameChat', a[1], 200)],
  deleteChat: (a) => [id('deleteChat', a[0])],
  getMessages: (a) => [id('getMessages', a[0])],
  ask: (a) => {
    const o = obj('ask', a[0]);
    return [{
      chatId: id('ask', o.chatId),
      question: str('ask', o.question, 20_000),
      mode: mode('ask', o.mode),
      k: intIn('ask', o.k, 1, 20),
    }];
  },
  cancelAnswer: (a) => [str('cancelAnswer', a[0], 100)],
  getEncodingQueue: (a) => none('getEncodingQueue', a),
  pauseEncoding: (a) => none('pauseEncoding', a),
  resumeEncoding: (a) => none('resumeEncoding', a),
  getEncodingDevices: (a) => none('getEncodingDevices', a),
  getModel: (a) => none('getModel', a),
  openModel: (a) => [str('openModel', a[0], 4096)],
  getRecommendedModels: (a) => none('getRecommendedModels', a),
  downloadModel: (a) => [str('downloadModel', a[0], 200)],
  cancelDownload: (a) => [str('cancelDownload', a[0], 200)],
  getEmbeddingStatus: (a) => none('getEmbeddingStatus', a),
  openEmbeddingModel: (a) => [str('openEmbeddingModel', a[0], 4096)],
  getSettings: (a) => none('getSettings', a),
  updateSettings: (a) => [settingsPatch('updateSettings', a[0])],
};

export const API_METHODS = Object.keys(apiArgs) as ApiMethod[];

export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(apiArgs, name);
}
