// The engine: one object that implements the whole API contract over the core (database,
// ingest, retrieval, inference, chats, encoding queue). The headless server, the Electron
// engine process and the CLI all host this same class.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ParamKbApi, UploadedFile } from '../shared/contract.js';
import { CancelledError, EncodingUnavailableError, NoModelError, ParamKbError, serializeError } from '../shared/errors.js';
import type { EventSink } from '../shared/rpc.js';
import type {
  AskRequest, ChatMessage, ChatSummary, DocumentDetail, DocumentSummary, EncodingAvailability, EncodingQueueStatus, ImportReport, ModelInfo,
  RecommendedModel, SearchHit, Settings,
} from '../shared/types.js';
import { Answerer, type AnswerResult } from './answer/answerer.js';
import { AdapterStore } from './encoding/adapterStore.js';
import { ChatStore } from './database/chatStore.js';
import { openDatabase, type Db } from './database/database.js';
import { DocumentStore } from './database/documentStore.js';
import { JobQueue } from './encoding/jobQueue.js';
import { Importer, type ImportOptions } from './ingest/importer.js';
import { LlmRuntime, type LoadModelOptions } from './llm/llmRuntime.js';
import { ModelDownloads, RECOMMENDED_MODELS } from './llm/modelDownloads.js';
import { adaptersDir, databasePath, modelsDir } from './paths.js';
import { Bm25Retriever } from './retrieval/bm25.js';
import { SettingsStore } from './settingsStore.js';
import { trainerAvailability } from './trainer/nativeTrainerBinding.js';

/** Runs the encoding queue; the encoding pipeline provides it (a worker process or in-process). */
export interface EncoderControl {
  /** Called when jobs were queued or the model changed, so an idle encoder looks again. */
  notify(): void;
  close(): Promise<void>;
}

export interface EngineOptions {
  dataDir: string;
  /** A GGUF to load; default: the last model opened in this knowledge base. */
  modelPath?: string;
  /** A prompt profile file; default: the one beside the model (see resolvePromptProfile). */
  profilePath?: string;
  /** Receives the API's events (answer tokens, progress, ...). Default: dropped. */
  events?: EventSink;
  /** Starts the encoder for this engine, or null for none (the CLI encodes on demand). */
  createEncoder?: (engine: Engine) => EncoderControl | null;
  /** Passed to the importer (e.g. a lower maxFileBytes in tests). */
  importOptions?: Omit<ImportOptions, 'onProgress'>;
  /** Use the GPU when one exists. Default true. */
  useGpu?: boolean;
}

export class Engine implements ParamKbApi {
  readonly documents: DocumentStore;
  readonly importer: Importer;
  readonly retriever: Bm25Retriever;
  readonly chats: ChatStore;
  readonly settings: SettingsStore;
  readonly jobs: JobQueue;
  readonly adapters: AdapterStore;
  /** Whether passages can be encoded here; fixed for the engine's life (the addon loads once). */
  readonly encodingAvailability: EncodingAvailability;
  private runtime: LlmRuntime | null = null;
  private modelError: string | null = null;
  private modelLoading: Promise<void> | null = null;
  private readonly answerer: Answerer;
  private readonly answersInFlight = new Map<string, AbortController>();
  private readonly downloads: ModelDownloads;
  private encoder: EncoderControl | null = null;
  /** Publishes an API event (also used by the encoder host). */
  readonly emit: EventSink;

  private constructor(readonly db: Db, readonly options: EngineOptions) {
    this.emit = options.events ?? (() => undefined);
    this.encodingAvailability = trainerAvailability();
    this.documents = new DocumentStore(db, () => this.runtime?.fingerprint ?? null);
    this.importer = new Importer(db, this.documents);
    this.retriever = new Bm25Retriever(db);
    this.chats = new ChatStore(db);
    this.settings = new SettingsStore(db, options.dataDir);
    this.jobs = new JobQueue(db);
    // Adapters are made, read and merged by the native trainer: without it none is used or queued.
    this.adapters = new AdapterStore(db, options.dataDir, () => (this.encodingAvailability.available ? this.baseModel : null), this.jobs, () => this.emitQueue());
    this.answerer = new Answerer(this.retriever, () => this.requireRuntime(), this.adapters);
    this.downloads = new ModelDownloads(modelsDir(options.dataDir), (p) => this.emit('downloadProgress', p));
  }

  /** Opens the knowledge base; a model that fails to load is reported by getModel, not thrown. */
  static async open(options: EngineOptions): Promise<Engine> {
    mkdirSync(options.dataDir, { recursive: true });
    mkdirSync(adaptersDir(options.dataDir), { recursive: true });
    const engine = new Engine(openDatabase(databasePath(options.dataDir)), options);
    const modelPath = options.modelPath ?? engine.settings.getValue('modelPath');
    if (modelPath) await engine.loadModel(modelPath).catch(() => undefined);
    // Without a trainer an encoder process could only fail and restart, forever.
    if (engine.encodingAvailability.available) engine.encoder = options.createEncoder?.(engine) ?? null;
    return engine;
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  /** The loaded runtime, or a NoModelError that tells the user how to load one. */
  requireRuntime(): LlmRuntime {
    if (!this.runtime) throw this.modelError ? new ParamKbError('model-unavailable', this.modelError) : new NoModelError();
    return this.runtime;
  }

  /** The path of the loaded model, or null. */
  loadedModelPath(): string | null {
    return this.runtime?.modelPath ?? null;
  }

  get baseModel(): string | null {
    return this.runtime?.fingerprint ?? null;
  }

  private async loadModel(modelPath: string): Promise<void> {
    const settings = this.settings.get();
    const load: LoadModelOptions = {
      modelPath,
      profilePath: this.options.profilePath,
      gpuLayers: settings.gpuLayers,
      threads: settings.threads,
      useGpu: this.options.useGpu,
    };
    const previous = this.runtime;
    try {
      const runtime = await LlmRuntime.load(load);
      this.runtime = runtime;
      this.modelError = null;
      this.settings.setValue('modelPath', modelPath);
      await previous?.dispose();
      // Adapters belong to one base model: every passage without one for this model is queued.
      if (this.encodingAvailability.available) {
        const all = this.db.prepare('SELECT id FROM passages ORDER BY id').pluck().all() as number[];
        this.jobs.enqueue(all, runtime.fingerprint);
      }
    } catch (error) {
      this.modelError = (error as Error).message;
      throw error;
    } finally {
      this.emit('modelChanged', await this.getModel());
      this.encoder?.notify();
    }
  }

  // ---- Knowledge ----

  async importPaths(paths: string[]): Promise<ImportReport> {
    const absolute = paths.map((p) => (isAbsolute(p) ? p : join(process.cwd(), p)));
    const report = await this.importer.importPaths(absolute, { ...this.options.importOptions, onProgress: (p) => this.emit('importProgress', p) });
    this.afterImport(report);
    return report;
  }

  async importUploads(files: UploadedFile[]): Promise<ImportReport> {
    const decoded = files.map((f) => ({ name: f.name, bytes: new Uint8Array(Buffer.from(f.base64, 'base64')) }));
    const report = await this.importer.importUploads(decoded, { ...this.options.importOptions, onProgress: (p) => this.emit('importProgress', p) });
    this.afterImport(report);
    return report;
  }

  /** Queues encoding of new passages when a model is loaded and encoding can run, and tells listeners. */
  afterImport(report: ImportReport): void {
    if (this.baseModel && this.encodingAvailability.available) {
      const passageIds = report.documentIds.flatMap((id) => this.documents.passageIdsOf(id));
      if (this.jobs.enqueue(passageIds, this.baseModel) > 0) this.encoder?.notify();
    }
    this.emit('documentsChanged', {});
    this.emitQueue();
  }

  async listDocuments(): Promise<DocumentSummary[]> {
    return this.documents.list();
  }

  async getDocument(id: number): Promise<DocumentDetail> {
    return this.documents.get(id);
  }

  async deleteDocument(id: number): Promise<void> {
    const files = this.documents.delete(id);
    for (const file of files) rmSync(join(this.dataDir, file), { force: true });
    this.emit('documentsChanged', {});
    this.emitQueue();
  }

  async reencodeDocument(id: number): Promise<void> {
    if (!this.encodingAvailability.available) throw new EncodingUnavailableError(this.encodingAvailability.reason);
    const baseModel = this.requireRuntime().fingerprint;
    this.documents.get(id);
    const passageIds = this.documents.passageIdsOf(id);
    const files = this.db.transaction(() => {
      const rows = this.db.prepare(`SELECT file FROM adapters WHERE base_model = ? AND passage_id IN (SELECT id FROM passages WHERE document_id = ?)`).all(baseModel, id) as { file: string }[];
      this.db.prepare(`DELETE FROM adapters WHERE base_model = ? AND passage_id IN (SELECT id FROM passages WHERE document_id = ?)`).run(baseModel, id);
      this.jobs.cancel(passageIds);
      this.jobs.enqueue(passageIds, baseModel);
      return rows.map((r) => r.file);
    })();
    for (const file of files) rmSync(join(this.dataDir, file), { force: true });
    this.encoder?.notify();
    this.emit('documentsChanged', {});
    this.emitQueue();
  }

  async search(query: string, k: number): Promise<SearchHit[]> {
    return this.retriever.search(query, k);
  }

  // ---- Chat ----

  async listChats(): Promise<ChatSummary[]> { return this.chats.list(); }
  async createChat(title: string): Promise<ChatSummary> { return this.chats.create(title); }
  async renameChat(id: number, title: string): Promise<ChatSummary> { return this.chats.rename(id, title); }
  async deleteChat(id: number): Promise<void> { this.chats.delete(id); }
  async getMessages(chatId: number): Promise<ChatMessage[]> { return this.chats.messages(chatId); }

  async ask(request: AskRequest): Promise<{ requestId: string; userMessage: ChatMessage }> {
    this.requireRuntime();
    const userMessage = this.chats.addMessage(request.chatId, { role: 'user', text: request.question, mode: request.mode });
    if (this.chats.messageCount(request.chatId) === 1) {
      this.chats.rename(request.chatId, request.question.trim().slice(0, 60) || 'New chat');
    }
    const requestId = randomUUID();
    const controller = new AbortController();
    this.answersInFlight.set(requestId, controller);
    let streamed = '';
    void this.answerer.answer({
      question: request.question, mode: request.mode, k: request.k, signal: controller.signal,
      onText: (text) => { streamed += text; this.emit('answerToken', { requestId, chatId: request.chatId, text }); },
    }).then((result: AnswerResult) => {
      const cancelled = result.generation.stopReason === 'cancelled';
      const message = this.chats.addMessage(request.chatId, {
        role: 'assistant', text: result.text.trim(), mode: request.mode, sources: result.sources, error: cancelled ? 'cancelled' : null,
        ...(result.candidates ? { candidates: result.candidates } : {}),
      });
      this.emit('answerDone', { requestId, chatId: request.chatId, message });
      this.emitQueue();
    }).catch((error: unknown) => {
      const expected = error instanceof CancelledError ? 'cancelled' : (error as Error).message;
      let message: ChatMessage | null = null;
      try {
        message = this.chats.addMessage(request.chatId, { role: 'assistant', text: streamed.trim(), mode: request.mode, error: expected });
      } catch { /* the chat was deleted meanwhile */ }
      this.emit('answerError', { requestId, chatId: request.chatId, error: serializeError(error), message });
    }).finally(() => this.answersInFlight.delete(requestId));
    return { requestId, userMessage };
  }

  /** Runs one question to the end without a chat (CLI ask and eval). */
  async answerOnce(options: Parameters<Answerer['answer']>[0]): Promise<AnswerResult> {
    return this.answerer.answer(options);
  }

  async cancelAnswer(requestId: string): Promise<void> {
    this.answersInFlight.get(requestId)?.abort();
  }

  // ---- Encoding queue ----

  async getEncodingQueue(): Promise<EncodingQueueStatus> {
    return this.queueStatus();
  }

  async pauseEncoding(): Promise<EncodingQueueStatus> {
    this.jobs.setPaused(true);
    this.encoder?.notify();
    return this.emitQueue();
  }

  async resumeEncoding(): Promise<EncodingQueueStatus> {
    this.jobs.setPaused(false);
    this.encoder?.notify();
    return this.emitQueue();
  }

  /** Publishes the queue's state (the encoder calls this as jobs progress). */
  emitQueue(): EncodingQueueStatus {
    const status = this.queueStatus();
    this.emit('encodingQueueChanged', status);
    return status;
  }

  private queueStatus(): EncodingQueueStatus {
    return { availability: this.encodingAvailability, ...this.jobs.status(this.baseModel) };
  }

  // ---- Model ----

  async getModel(): Promise<ModelInfo> {
    if (this.runtime) return this.runtime.info();
    const settings = this.settings.get();
    return {
      path: this.settings.getValue('modelPath'), name: null, architecture: null, sizeBytes: null, contextSize: null, gpu: false,
      gpuLayers: settings.gpuLayers, threads: settings.threads, loaded: false, error: this.modelError,
    };
  }

  async openModel(path: string): Promise<ModelInfo> {
    if (this.modelLoading) await this.modelLoading.catch(() => undefined);
    this.modelLoading = this.loadModel(path);
    try {
      await this.modelLoading;
    } finally {
      this.modelLoading = null;
    }
    return this.getModel();
  }

  async getRecommendedModels(): Promise<RecommendedModel[]> {
    return [...RECOMMENDED_MODELS];
  }

  async downloadModel(id: string): Promise<void> {
    const path = await this.downloads.download(id);
    await this.openModel(path);
  }

  async cancelDownload(id: string): Promise<void> {
    this.downloads.cancel(id);
  }

  // ---- Settings ----

  async getSettings(): Promise<Settings> {
    return this.settings.get();
  }

  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    return this.settings.update(patch);
  }

  async close(): Promise<void> {
    for (const controller of this.answersInFlight.values()) controller.abort();
    await this.encoder?.close();
    await this.runtime?.dispose();
    this.runtime = null;
    this.db.close();
  }
}
