// The engine: one object that implements the whole API contract over the core (database,
// ingest, retrieval, inference, chats, encoding queue). The headless server, the Electron
// engine process and the CLI all host this same class.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { PACK_FILE_EXTENSION, type ParamKbApi, type UploadedFile } from '../shared/contract.js';
import { sameEncodingDevice } from '../shared/devices.js';
import { CancelledError, EncodingUnavailableError, NoModelError, ParamKbError, serializeError } from '../shared/errors.js';
import type { EventSink } from '../shared/rpc.js';
import type {
  AskRequest, ChatMessage, ChatSummary, ComputeDeviceList, DocumentDetail, DocumentSummary, EmbeddingStatus, EncodingAvailability, EncodingDevice, EncodingEstimate,
  EncodingPolicy, EncodingQueueStatus, ImportFailureList, ImportReport, ModelInfo, PackExportReport, PackImportReport, RecommendedModel, SearchHit, Settings,
} from '../shared/types.js';
import { Answerer, type AnswerResult } from './answer/answerer.js';
import { AdapterStore } from './encoding/adapterStore.js';
import { estimateEncoding } from './encoding/encodingEstimate.js';
import { ChatStore } from './database/chatStore.js';
import { openDatabase, type Db } from './database/database.js';
import { DocumentStore } from './database/documentStore.js';
import { JobQueue } from './encoding/jobQueue.js';
import { Importer, type ImportOptions } from './ingest/importer.js';
import { EmbeddingRuntime } from './llm/embeddingRuntime.js';
import { LlmRuntime, type LoadModelOptions } from './llm/llmRuntime.js';
import { describeModel, modelIdentity } from './llm/modelIdentity.js';
import { ModelDownloads, RECOMMENDED_MODELS } from './llm/modelDownloads.js';
import { promptProfileFingerprint } from './llm/promptProfile.js';
import { exportPack } from './packs/packExport.js';
import { PackError } from './packs/packFormat.js';
import { importPack } from './packs/packImport.js';
import { adaptersDir, databasePath, modelsDir } from './paths.js';
import { Bm25Retriever } from './retrieval/bm25.js';
import { EmbeddingQueue } from './retrieval/embeddingQueue.js';
import { Retriever } from './retrieval/retriever.js';
import { VectorStore } from './retrieval/vectorStore.js';
import { SettingsStore } from './settingsStore.js';
import { LoraTrainer } from './trainer/LoraTrainer.js';
import { trainerAvailability } from './trainer/nativeTrainerBinding.js';

/** Runs the encoding queue; the encoding pipeline provides it (a worker process or in-process). */
export interface EncoderControl {
  /** Called when jobs were queued or the model changed, so an idle encoder looks again. */
  notify(): void;
  /**
   * An answer started (true, for each one) or the last one running ended (false): the encoder
   * pauses meanwhile (PassageEncoder.pauseForAnswers), so that answers keep their idle speed.
   */
  answering(active: boolean): void;
  close(): Promise<void>;
}

export interface EngineOptions {
  dataDir: string;
  /** A GGUF to load; default: the last model opened in this knowledge base. */
  modelPath?: string;
  /** An embedding GGUF for vector search; default: the last one opened in this knowledge base. */
  embeddingModelPath?: string;
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
  /**
   * A folder of knowledge packs shipped with the app (electron-builder's extraResources): each
   * is imported once, as soon as the model its adapters need is open. Default none.
   */
  bundledPacksDir?: string;
  /**
   * Open to look, not to change (paramkb status): loading a model neither queues passages for
   * it nor makes it the knowledge base's last model. Default false.
   */
  readOnly?: boolean;
  /**
   * CPU threads of the models this engine loads, over the Threads setting (eval and benchmarks
   * pin them; the setting stays as the user left it). Default: the setting.
   */
  threads?: number;
}

/** This computer's CPU as the trainer would list it, for where the trainer cannot list devices. */
function cpuDevice(): ComputeDeviceList['devices'][number] {
  return { name: 'CPU', description: cpus()[0]?.model.trim() || 'CPU', type: 'cpu', memoryFree: freemem(), memoryTotal: totalmem() };
}

export class Engine implements ParamKbApi {
  readonly documents: DocumentStore;
  readonly importer: Importer;
  readonly bm25: Bm25Retriever;
  readonly vectors: VectorStore;
  /** BM25, vector and hybrid retrieval with the second hop; answers and search use it. */
  readonly retriever: Retriever;
  /** Embeds passages in the background with the embedding model. */
  readonly embeddings: EmbeddingQueue;
  readonly chats: ChatStore;
  readonly settings: SettingsStore;
  readonly jobs: JobQueue;
  readonly adapters: AdapterStore;
  /** Whether passages can be encoded here; fixed for the engine's life (the addon loads once). */
  readonly encodingAvailability: EncodingAvailability;
  private runtime: LlmRuntime | null = null;
  private modelError: string | null = null;
  private embedding: { runtime: EmbeddingRuntime; model: ReturnType<VectorStore['register']> } | null = null;
  private embeddingError: string | null = null;
  private modelLoading: Promise<void> | null = null;
  private readonly answerer: Answerer;
  private readonly answersInFlight = new Map<string, AbortController>();
  /** Answers running now (chats' and answerOnce's): background work steps aside for them. */
  private answersRunning = 0;
  private readonly downloads: ModelDownloads;
  private encoder: EncoderControl | null = null;
  /** Why the encoder cannot run now (another process encodes this knowledge base), else null. */
  private encoderBlocked: string | null = null;
  /** The device the running encoder last reported, else null. */
  private encoderDevice: EncodingDevice | null = null;
  /** Publishes an API event (also used by the encoder host). */
  readonly emit: EventSink;

  private constructor(readonly db: Db, readonly options: EngineOptions) {
    this.emit = options.events ?? (() => undefined);
    this.encodingAvailability = trainerAvailability();
    this.documents = new DocumentStore(db, () => this.runtime?.fingerprint ?? null);
    this.importer = new Importer(db, this.documents);
    this.bm25 = new Bm25Retriever(db);
    this.vectors = new VectorStore(db);
    this.retriever = new Retriever(this.bm25, this.vectors, this.documents, () => this.embedding);
    this.embeddings = new EmbeddingQueue(this.vectors, () => this.answersRunning > 0, () => this.emitEmbedding());
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
    const embeddingModelPath = options.embeddingModelPath ?? engine.settings.getValue('embeddingModelPath');
    if (embeddingModelPath) await engine.openEmbeddingModel(embeddingModelPath).catch(() => undefined);
    // Without a trainer an encoder process could only fail and restart, forever.
    if (engine.encodingAvailability.available) engine.encoder = options.createEncoder?.(engine) ?? null;
    void engine.importBundledPacks();
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
      threads: this.options.threads ?? settings.threads,
      useGpu: this.options.useGpu,
      // Combine keeps the passages' prompt and the adapters' prompt in the KV cache, one each.
      sequences: 2,
    };
    const previous = this.runtime;
    try {
      const runtime = await LlmRuntime.load(load);
      this.runtime = runtime;
      this.modelError = null;
      await previous?.dispose();
      if (!this.options.readOnly) {
        this.settings.setValue('modelPath', modelPath);
        // Adapters belong to one base model: under 'all', every passage without one for this model is queued.
        this.queueAll();
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

  async listImportFailures(): Promise<ImportFailureList> {
    return this.importer.listFailures();
  }

  async dismissImportFailures(): Promise<void> {
    this.importer.dismissFailures();
  }

  /**
   * Queues encoding of the new passages when a model is loaded and the policy is 'all', says
   * in the report what encoding them costs, and tells listeners.
   */
  afterImport(report: ImportReport): void {
    this.queueDocuments(report.documentIds, report);
  }

  /**
   * New passages: embedded in the background at once, and queued for encoding when a model is
   * loaded and the policy is 'all'; an import's report says what encoding them costs.
   */
  private queueDocuments(documentIds: number[], report?: ImportReport): void {
    this.embeddings.notify();
    const baseModel = this.baseModel;
    if (baseModel && this.encodingAvailability.available) {
      const passageIds = documentIds.flatMap((id) => this.documents.passageIdsOf(id));
      if (report) {
        const unencoded = passageIds.length - this.adapters.countFor(passageIds, baseModel);
        report.encoding = unencoded > 0 ? this.estimateEncoding(unencoded) : null;
      }
      if (this.settings.get().encodingPolicy === 'all' && this.jobs.enqueue(passageIds, baseModel) > 0) this.encoder?.notify();
    }
    this.emit('documentsChanged', {});
    this.emitQueue();
  }

  // ---- Knowledge packs ----

  /** @param options.modelSource where to get the model, recorded in the pack (default: known for recommended models). */
  async exportPack(path: string, documentIds: number[] | null, options: { modelSource?: string } = {}): Promise<PackExportReport> {
    const runtime = this.runtime;
    const model = runtime ? { identity: await modelIdentity(runtime.modelPath, options.modelSource), promptProfile: promptProfileFingerprint(runtime.profile) } : null;
    const result = await this.exclusivePack(() => exportPack({
      dataDir: this.dataDir, outPath: isAbsolute(path) ? path : join(process.cwd(), path), documentIds, model,
      onProgress: (done, total) => this.emit('packProgress', { operation: 'export', phase: 'writing', done, total }),
    }));
    return { ...result, model: model && result.adapters > 0 ? describeModel(model.identity) : null };
  }

  async importPack(path: string): Promise<PackImportReport> {
    const runtime = this.runtime;
    const { documentIds, ...report } = await this.exclusivePack(async () => {
      // The merge is one write transaction: encoding pauses and the encoder finishes its passage
      // first, so that its writes never wait on it.
      const policy = this.settings.get().encodingPolicy;
      const wasPaused = policy === 'paused';
      if (!wasPaused) {
        this.settings.update({ encodingPolicy: 'paused' });
        await this.untilEncoderIdle();
      }
      try {
        return await importPack({
          db: this.db, dataDir: this.dataDir, documents: this.documents, adapters: this.adapters, jobs: this.jobs,
          inPath: isAbsolute(path) ? path : join(process.cwd(), path),
          model: runtime ? { fingerprint: runtime.fingerprint, promptProfile: promptProfileFingerprint(runtime.profile) } : null,
          onProgress: (p) => this.emit('packProgress', { operation: 'import', ...p }),
        });
      } finally {
        if (!wasPaused) {
          this.settings.update({ encodingPolicy: policy });
          this.encoder?.notify();
        }
      }
    });
    this.queueDocuments(documentIds);
    return report;
  }

  /**
   * Imports the bundled packs not imported yet (settings remember each by name, size and
   * time). A pack whose adapters need another model waits for that model; a failed one is
   * tried again at the next start. Resolves with the packs imported now.
   */
  importBundledPacks(): Promise<string[]> {
    this.bundledImport ??= this.runBundledImport().finally(() => { this.bundledImport = null; });
    return this.bundledImport;
  }

  private async runBundledImport(): Promise<string[]> {
    const dir = this.options.bundledPacksDir;
    if (!dir) return [];
    let names: string[];
    try { names = readdirSync(dir).filter((n) => n.endsWith(PACK_FILE_EXTENSION)).sort(); } catch { return []; }
    const done = new Set<string>(JSON.parse(this.settings.getValue('bundledPacks') ?? '[]') as string[]);
    const imported: string[] = [];
    for (const name of names) {
      const path = join(dir, name);
      const stat = statSync(path);
      const key = `${name}:${stat.size}:${Math.round(stat.mtimeMs)}`;
      if (done.has(key)) continue;
      try {
        await this.importPack(path);
      } catch {
        continue; // waiting for its model, or damaged: tried again later
      }
      done.add(key);
      this.settings.setValue('bundledPacks', JSON.stringify([...done]));
      imported.push(name);
    }
    return imported;
  }

  private bundledImport: Promise<string[]> | null = null;
  private packRunning = false;

  /** One pack at a time: an export reads a snapshot, an import pauses encoding. */
  private async exclusivePack<T>(work: () => Promise<T>): Promise<T> {
    if (this.packRunning) throw new PackError('pack-busy', 'A knowledge pack is being exported or imported; wait until it is done.');
    this.packRunning = true;
    try {
      return await work();
    } finally {
      this.packRunning = false;
    }
  }

  /** Waits (up to a minute) until no passage is being encoded on this machine. */
  private async untilEncoderIdle(): Promise<void> {
    this.encoder?.notify();
    const deadline = Date.now() + 60_000;
    while (this.jobs.runningLocally() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  }

  /** What encoding `passages` passages costs with the loaded model (measured rate, else a guess from its size). */
  estimateEncoding(passages: number): EncodingEstimate {
    const runtime = this.requireRuntime();
    return estimateEncoding(passages, this.jobs.secondsPerPassage(runtime.fingerprint), runtime.info().sizeBytes ?? 0);
  }

  /** Under the 'all' policy, queues every passage that has no adapter for the loaded model. */
  private queueAll(): void {
    const baseModel = this.baseModel;
    if (!baseModel || !this.encodingAvailability.available || this.settings.get().encodingPolicy !== 'all') return;
    this.jobs.enqueue(this.documents.allPassageIds(), baseModel);
  }

  /**
   * Sets which passages are encoded. 'all' queues every passage without an adapter; 'on-demand'
   * drops the jobs no question asked for (questions still queue the passages they retrieve);
   * 'paused' stops the encoder, and resuming returns to the policy before it.
   */
  setEncodingPolicy(policy: EncodingPolicy): EncodingQueueStatus {
    const previous = this.settings.get().encodingPolicy;
    if (policy === 'paused' && previous !== 'paused') this.settings.setValue('encodingPolicyBeforePause', previous);
    this.settings.update({ encodingPolicy: policy });
    if (policy === 'all') this.queueAll();
    if (policy === 'on-demand' && this.baseModel) this.jobs.cancelUnrequested(this.baseModel);
    this.encoder?.notify();
    this.emit('documentsChanged', {});
    return this.emitQueue();
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
      const forgotten = this.adapters.forgetDocument(baseModel, id);
      this.jobs.cancel(passageIds);
      this.jobs.enqueue(passageIds, baseModel);
      return forgotten;
    })();
    for (const file of files) rmSync(join(this.dataDir, file), { force: true });
    this.encoder?.notify();
    this.emit('documentsChanged', {});
    this.emitQueue();
  }

  async search(query: string, k: number): Promise<SearchHit[]> {
    // A search box takes words, not a question to follow: no second hop.
    return (await this.retriever.retrieve(query, k, { hop: 'never' })).hits;
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
    void this.answerFirst({
      question: request.question, mode: request.mode, k: request.k, signal: controller.signal,
      onText: (text) => { streamed += text; this.emit('answerToken', { requestId, chatId: request.chatId, text }); },
    }).then((result: AnswerResult) => {
      const cancelled = result.generation.stopReason === 'cancelled';
      const message = this.chats.addMessage(request.chatId, {
        role: 'assistant', text: result.text.trim(), mode: request.mode, sources: result.sources, error: cancelled ? 'cancelled' : null,
        ...(result.candidates ? { candidates: result.candidates } : {}),
      });
      this.emit('answerDone', { requestId, chatId: request.chatId, message });
      // The question may have queued the passages it retrieved (on demand, or moved them up): wake the encoder.
      this.encoder?.notify();
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
    return this.answerFirst(options);
  }

  /** Answers with the encoder paused, until the last answer running ends. */
  private async answerFirst(options: Parameters<Answerer['answer']>[0]): Promise<AnswerResult> {
    this.answersRunning++;
    this.encoder?.answering(true);
    try {
      return await this.answerer.answer(options);
    } finally {
      if (--this.answersRunning === 0) this.encoder?.answering(false);
    }
  }

  async cancelAnswer(requestId: string): Promise<void> {
    this.answersInFlight.get(requestId)?.abort();
  }

  // ---- Encoding queue ----

  async getEncodingQueue(): Promise<EncodingQueueStatus> {
    return this.queueStatus();
  }

  private queueStatus(): EncodingQueueStatus {
    return { availability: this.encodingAvailability, ...this.jobs.status(this.baseModel), blocked: this.encoderBlocked, device: this.encoderDevice };
  }

  /** The encoder host reports that another process holds the encoding lock (null: no longer). */
  setEncoderBlocked(reason: string | null): void {
    if (reason === this.encoderBlocked) return;
    this.encoderBlocked = reason;
    this.emitQueue();
  }

  /** The encoder host reports the device its encoder trains on (null: no encoder runs). */
  setEncoderDevice(device: EncodingDevice | null): void {
    const now = this.encoderDevice;
    if (now === device || (now && device && sameEncodingDevice(now, device))) return;
    this.encoderDevice = device;
    this.emitQueue();
  }

  async getEncodingDevices(): Promise<ComputeDeviceList> {
    if (this.encodingAvailability.available) {
      try {
        return await LoraTrainer.devices();
      } catch (error) {
        return { devices: [cpuDevice()], failures: [(error as Error).message] };
      }
    }
    return { devices: [cpuDevice()], failures: [this.encodingAvailability.reason] };
  }

  async pauseEncoding(): Promise<EncodingQueueStatus> {
    return this.setEncodingPolicy('paused');
  }

  async resumeEncoding(): Promise<EncodingQueueStatus> {
    const before = this.settings.getValue('encodingPolicyBeforePause');
    return this.setEncodingPolicy(before === 'on-demand' ? 'on-demand' : 'all');
  }

  /** Publishes the queue's state (the encoder calls this as jobs progress). */
  emitQueue(): EncodingQueueStatus {
    const status = this.queueStatus();
    this.emit('encodingQueueChanged', status);
    return status;
  }

  // ---- Model ----

  async getModel(): Promise<ModelInfo> {
    if (this.runtime) return this.runtime.info();
    const settings = this.settings.get();
    return {
      path: this.settings.getValue('modelPath'), name: null, architecture: null, sizeBytes: null, contextSize: null, gpu: false,
      gpuDevices: [], computeNote: null, gpuLayers: settings.gpuLayers, layerCount: null, threads: settings.threads, loaded: false, error: this.modelError,
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
    void this.importBundledPacks();
    return this.getModel();
  }

  async getRecommendedModels(): Promise<RecommendedModel[]> {
    return [...RECOMMENDED_MODELS];
  }

  async downloadModel(id: string): Promise<void> {
    const path = await this.downloads.download(id);
    if (RECOMMENDED_MODELS.find((m) => m.id === id)?.kind === 'embedding') await this.openEmbeddingModel(path);
    else await this.openModel(path);
  }

  // ---- Embedding model ----

  async getEmbeddingStatus(): Promise<EmbeddingStatus> {
    const status = this.embeddings.status();
    return status.error || !this.embeddingError ? status : { ...status, error: this.embeddingError };
  }

  /**
   * Loads an embedding model for vector search; passages without its vectors are embedded in
   * the background (vectors of other models are kept, for switching back).
   */
  async openEmbeddingModel(path: string): Promise<EmbeddingStatus> {
    try {
      const threads = this.options.threads ?? this.settings.get().threads;
      const runtime = await EmbeddingRuntime.load({ modelPath: path, useGpu: this.options.useGpu, threads: threads > 0 ? Math.min(4, threads) : 0 });
      let model;
      try {
        model = this.vectors.register(runtime.fingerprint, runtime.name, runtime.dimensions);
      } catch (error) {
        await runtime.dispose();
        throw new ParamKbError('embedding-model-unusable', `${runtime.name} cannot be used for search: ${(error as Error).message}`, { cause: error });
      }
      const previous = this.embedding;
      this.embedding = { runtime, model };
      this.embeddingError = null;
      this.settings.setValue('embeddingModelPath', path);
      await this.embeddings.setTarget(this.embedding);
      await previous?.runtime.dispose();
    } catch (error) {
      this.embeddingError = (error as Error).message;
      throw error;
    } finally {
      this.emitEmbedding();
    }
    return this.getEmbeddingStatus();
  }

  private emitEmbedding(): void {
    void this.getEmbeddingStatus().then((status) => this.emit('embeddingProgress', status));
  }

  async cancelDownload(id: string): Promise<void> {
    this.downloads.cancel(id);
  }

  // ---- Settings ----

  async getSettings(): Promise<Settings> {
    return this.settings.get();
  }

  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    const { encodingPolicy, ...rest } = patch;
    if (encodingPolicy !== undefined && encodingPolicy !== this.settings.get().encodingPolicy) this.setEncodingPolicy(encodingPolicy);
    const settings = this.settings.update(rest);
    // The encoder runs with the thread count and device it was started with: a new one starts.
    if ('threads' in patch || 'encoderThreads' in patch || 'encoderDevice' in patch) this.encoder?.notify();
    return settings;
  }

  async close(): Promise<void> {
    for (const controller of this.answersInFlight.values()) controller.abort();
    await this.embeddings.close();
    await this.embedding?.runtime.dispose();
    this.embedding = null;
    await this.encoder?.close();
    await this.runtime?.dispose();
    this.runtime = null;
    this.db.close();
  }
}
