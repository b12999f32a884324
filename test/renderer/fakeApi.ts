// An in-memory ParamKbApi for renderer tests: a small knowledge base, chats, and answers that
// stream word by word through the same events the engine sends. No node, no model.
import type { ApiEvent, ParamKbEvents, UploadedFile } from '../../electron/shared/contract.js';
import { ParamKbError } from '../../electron/shared/errors.js';
import type { ApiClient, EventHandler } from '../../electron/shared/rpc.js';
import type {
  ChatMessage, ChatSummary, ComputeDeviceList, DocumentDetail, EmbeddingStatus, EncodingDevice, EncodingQueueStatus, ImportFailure, ImportReport, ModelInfo, RecommendedModel, RecordedImportFailure, Settings,
} from '../../electron/shared/types.js';

export interface FakeApi extends ApiClient {
  /** Sends an event to the subscribers, as the engine would. */
  emit<E extends ApiEvent>(event: E, payload: ParamKbEvents[E]): void;
  /** Calls made, by method name, in order. */
  calls: { method: string; args: unknown[] }[];
}

export interface FakeApiOptions {
  /** Documents present at start, as [title, passages]. */
  documents?: [string, string[]][];
  modelLoaded?: boolean;
  /** Delay between streamed words; 0 streams synchronously after ask() resolves. */
  tokenDelayMs?: number;
  /** downloadModel fails as the engine's does: a 'failed' progress event, then a rejection. */
  downloadError?: string;
  /** Why encoding cannot run here, as the engine reports it; default: encoding works. */
  encodingUnavailable?: string;
}

/** The device the fake encoder reports while it runs. */
const CPU_DEVICE: EncodingDevice = { name: 'CPU', description: 'AMD Ryzen 7 7840U', gpu: false, note: null };

/** What the fake trainer finds: the CPU, a GPU, and a software renderer. */
const COMPUTE_DEVICES: ComputeDeviceList = {
  devices: [
    { name: 'CPU', description: 'AMD Ryzen 7 7840U', type: 'cpu', memoryFree: 20e9, memoryTotal: 32e9 },
    { name: 'Vulkan0', description: 'AMD Radeon 780M', type: 'igpu', memoryFree: 7e9, memoryTotal: 8e9 },
    { name: 'Vulkan1', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', type: 'gpu', memoryFree: 20e9, memoryTotal: 32e9 },
  ],
  failures: [],
};

export function createFakeApi(options: FakeApiOptions = {}): FakeApi {
  const handlers = new Map<ApiEvent, Set<(payload: unknown) => void>>();
  const calls: FakeApi['calls'] = [];
  const now = () => new Date(Date.UTC(2026, 0, 1, 12)).toISOString();
  let nextId = 1;
  const documents = new Map<number, DocumentDetail>();
  const chats = new Map<number, ChatSummary>();
  const messages = new Map<number, ChatMessage[]>();
  const running = new Map<string, { cancelled: boolean }>();
  let paused = false;
  let settings: Settings = {
    topK: 3, defaultMode: 'combine', rank: 2, alpha: 32, learningRate: 2e-3, epochs: 3, gpuLayers: 'auto', threads: 0, encoderThreads: 0, encoderDevice: 'auto', encodingPolicy: 'all',
    theme: 'light', dataDir: '/home/user/.config/ParamKB',
  };
  let model: ModelInfo = {
    path: options.modelLoaded === false ? null : '/models/tiny-llama.gguf',
    name: options.modelLoaded === false ? null : 'tiny-llama',
    architecture: options.modelLoaded === false ? null : 'llama',
    sizeBytes: options.modelLoaded === false ? null : 12_345_678,
    contextSize: 2048, gpu: false, gpuDevices: [], computeNote: null, gpuLayers: 'auto', layerCount: options.modelLoaded === false ? null : 2,
    threads: 2, loaded: options.modelLoaded !== false, error: null,
  };
  const recommended: RecommendedModel[] = [
    { id: 'llama-3.2-1b', name: 'Llama 3.2 1B Instruct', uri: 'hf:bartowski/Llama-3.2-1B-Instruct-GGUF', sizeBytes: 807_000_000, memoryBytes: 5_000_000_000, encodingSecondsPerPassage: 120, description: 'Fast and small; a good first model.' },
    { id: 'bge-small', name: 'bge-small-en-v1.5', uri: 'hf:CompendiumLabs/bge-small-en-v1.5-gguf:Q8_0', sizeBytes: 36_000_000, memoryBytes: 150_000_000, description: 'Finds passages by meaning.', kind: 'embedding' },
  ];
  let embedding: EmbeddingStatus = { model: null, embedded: 0, total: 0, running: false, error: null };

  const emit: FakeApi['emit'] = (event, payload) => {
    for (const handler of handlers.get(event) ?? []) handler(payload);
  };
  const addDocument = (title: string, passages: string[], path: string | null) => {
    const id = nextId++;
    documents.set(id, {
      id, title, path, format: title.split('.').pop() ?? 'txt', sizeBytes: passages.join(' ').length, passageCount: passages.length,
      encodedCount: 0, status: 'indexed', error: null, importedAt: now(),
      passages: passages.map((text, position) => ({ id: nextId++, documentId: id, position, text, hasAdapter: false })),
    });
    return id;
  };
  for (const [title, passages] of options.documents ?? []) addDocument(title, passages, `/docs/${title}`);
  const summary = ({ passages: _passages, ...rest }: DocumentDetail) => rest;
  const queue = (): EncodingQueueStatus => {
    const total = [...documents.values()].reduce((n, d) => n + d.passageCount, 0);
    const done = [...documents.values()].reduce((n, d) => n + d.encodedCount, 0);
    if (options.encodingUnavailable !== undefined) {
      return { availability: { available: false, reason: options.encodingUnavailable }, paused, queued: 0, running: 0, done, failed: 0, total: done, current: null, secondsPerPassage: null, etaSeconds: null, blocked: null, device: null };
    }
    return { availability: { available: true }, paused, queued: total - done, running: 0, done, failed: 0, total, current: null, secondsPerPassage: 12, etaSeconds: total > done ? (total - done) * 12 : null, blocked: null, device: CPU_DEVICE };
  };
  const search = (query: string, k: number) => {
    const words = query.toLowerCase().split(/\W+/).filter((w) => w.length > 2);
    const hits = [];
    for (const doc of documents.values()) {
      for (const p of doc.passages) {
        const score = words.filter((w) => p.text.toLowerCase().includes(w)).length;
        if (score > 0) {
          const snippet = p.text.replace(new RegExp(`\\b(${words.join('|')})\\b`, 'gi'), '[[$1]]');
          hits.push({ passageId: p.id, documentId: doc.id, documentTitle: doc.title, position: p.position, score, snippet, text: p.text });
        }
      }
    }
    return hits.sort((a, b) => b.score - a.score).slice(0, k);
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const record = (method: string, args: unknown[]) => calls.push({ method, args });
  const message = (chatId: number, role: ChatMessage['role'], text: string, extra: Partial<ChatMessage> = {}): ChatMessage => {
    const m: ChatMessage = { id: nextId++, chatId, role, text, mode: null, sources: [], candidates: null, error: null, createdAt: now(), ...extra };
    messages.set(chatId, [...(messages.get(chatId) ?? []), m]);
    return m;
  };
  // Paths with "broken" in them fail, .png files are skipped; both are kept until dismissed.
  const importFailures: RecordedImportFailure[] = [];
  const importReport = (ids: number[], failed: ImportFailure[] = [], skipped: ImportFailure[] = []): ImportReport => {
    for (const f of [...failed, ...skipped]) importFailures.unshift({ ...f, id: nextId++, at: now() });
    return {
      added: ids.length, updated: 0, unchanged: 0, failed, skipped, documentIds: ids,
      passages: ids.reduce((n, id) => n + (documents.get(id)?.passageCount ?? 0), 0),
    };
  };

  const api: Omit<FakeApi, 'on' | 'emit' | 'calls'> = {
    async importPaths(paths) {
      record('importPaths', [paths]);
      const failed = paths.filter((p) => p.includes('broken')).map((p) => ({ path: p, code: 'corrupt', reason: 'The PDF cannot be read; it may be damaged.' }));
      const skipped = paths.filter((p) => p.endsWith('.png')).map((p) => ({ path: p, code: 'unsupported', reason: 'Skipped: .png is not supported.' }));
      const ids = paths.filter((p) => !p.includes('broken') && !p.endsWith('.png')).map((p) => addDocument(p.split('/').pop() || p, [`Imported from ${p}.`], p));
      emit('documentsChanged', {});
      emit('encodingQueueChanged', queue());
      const report = importReport(ids, failed, skipped);
      // A path with "large" in it stands for a 20 MB text file.
      if (paths.some((p) => p.includes('large'))) report.encoding = { passages: 26_657, secondsPerPassage: 6.5, seconds: 173_271, measured: true };
      return report;
    },
    async importUploads(files: UploadedFile[]) {
      record('importUploads', [files]);
      const ids = files.map((f) => addDocument(f.name, [atob(f.base64)], null));
      emit('documentsChanged', {});
      return importReport(ids);
    },
    async listImportFailures() { return { total: importFailures.length, items: importFailures.slice(0, 200) }; },
    async dismissImportFailures() { record('dismissImportFailures', []); importFailures.length = 0; },
    async listDocuments() { return [...documents.values()].map(summary); },
    async getDocument(id) {
      const doc = documents.get(id);
      if (!doc) throw new ParamKbError('not-found', `Document ${id} was not found.`);
      return doc;
    },
    async deleteDocument(id) { record('deleteDocument', [id]); documents.delete(id); },
    async reencodeDocument(id) { record('reencodeDocument', [id]); },
    async search(query, k) { record('search', [query, k]); return search(query, k); },
    async exportPack(path, documentIds) {
      record('exportPack', [path, documentIds]);
      emit('packProgress', { operation: 'export', phase: 'writing', done: 1, total: 2 });
      const passages = [...documents.values()].reduce((n, d) => n + d.passageCount, 0);
      return { path, documents: documents.size, passages, adapters: passages, bytes: 48_000, model: 'tiny-llama (tiny-llama.gguf, 12 MB, fingerprint 0123456789ab…)' };
    },
    async importPack(path) {
      record('importPack', [path]);
      if (!path.endsWith('.paramkb')) throw new ParamKbError('not-a-pack', 'This file is not a ParamKB knowledge pack.');
      if (path.includes('other-model')) {
        throw new ParamKbError('pack-wrong-model', "This knowledge pack's adapters are for the model Llama 3.2 1B Instruct (Llama-3.2-1B-Instruct-Q4_K_M.gguf, 770 MB, fingerprint 1a2b3c4d5e6f…), not the open model. Open that model (Models, or --model) and import the pack again.");
      }
      emit('packProgress', { operation: 'import', phase: 'verifying', done: 10, total: 20 });
      addDocument('handbook.md', ['Expense reports are due on the fifth.'], null);
      emit('documentsChanged', {});
      return { documentsAdded: 1, documentsPresent: 1, passagesAdded: 1, adaptersAdded: 1, augmentationsAdded: 1, vectorsAdded: 0, model: 'tiny-llama', warnings: [] };
    },
    async listChats() { return [...chats.values()].sort((a, b) => b.id - a.id); },
    async createChat(title) {
      const chat = { id: nextId++, title, createdAt: now(), updatedAt: now() };
      chats.set(chat.id, chat);
      return chat;
    },
    async renameChat(id, title) {
      const chat = chats.get(id);
      if (!chat) throw new ParamKbError('not-found', 'Chat was not found.');
      const renamed = { ...chat, title };
      chats.set(id, renamed);
      return renamed;
    },
    async deleteChat(id) { record('deleteChat', [id]); chats.delete(id); messages.delete(id); },
    async getMessages(chatId) { return messages.get(chatId) ?? []; },
    async ask(request) {
      record('ask', [request]);
      if (!model.loaded) throw new ParamKbError('no-model', 'No model is loaded.');
      const requestId = `r${nextId++}`;
      const userMessage = message(request.chatId, 'user', request.question, { mode: request.mode });
      const state = { cancelled: false };
      running.set(requestId, state);
      const hits = request.mode === 'closed-book' ? [] : search(request.question, request.k);
      const words = ['Based', ' on', ' your', ' documents,', ' the', ' answer', ' is', ' 42.'];
      void (async () => {
        await sleep(0);
        let text = '';
        for (const word of words) {
          if (state.cancelled) break;
          text += word;
          emit('answerToken', { requestId, chatId: request.chatId, text: word });
          await sleep(options.tokenDelayMs ?? 0);
        }
        const sources = hits.map((h, i) => ({
          passageId: h.passageId, documentId: h.documentId, documentTitle: h.documentTitle, text: h.text, score: h.score,
          usedAs: (request.mode === 'parametric' || (request.mode !== 'context' && i === 0) ? 'adapter' : 'context') as 'adapter' | 'context',
        }));
        const candidates = request.mode === 'combine' && !state.cancelled
          ? { passages: { answer: '42', logProb: -1.5 }, adapters: { answer: '41', logProb: -3.25 }, kept: 'passages' as const }
          : null;
        const answer = message(request.chatId, 'assistant', text, { mode: request.mode, sources, candidates, error: state.cancelled ? 'cancelled' : null });
        if (state.cancelled) emit('answerError', { requestId, chatId: request.chatId, error: { name: 'CancelledError', message: 'cancelled', code: 'cancelled', expected: true }, message: answer });
        else emit('answerDone', { requestId, chatId: request.chatId, message: answer });
      })();
      return { requestId, userMessage };
    },
    async cancelAnswer(requestId) {
      record('cancelAnswer', [requestId]);
      const state = running.get(requestId);
      if (state) state.cancelled = true;
    },
    async getEncodingQueue() { return queue(); },
    async getEncodingDevices() { return COMPUTE_DEVICES; },
    async pauseEncoding() { paused = true; settings = { ...settings, encodingPolicy: 'paused' }; return queue(); },
    async resumeEncoding() { paused = false; settings = { ...settings, encodingPolicy: 'all' }; return queue(); },
    async getModel() { return model; },
    async openModel(path) {
      record('openModel', [path]);
      if (!path.endsWith('.gguf')) throw new ParamKbError('not-gguf', `${path} is not a GGUF model file.`);
      model = { ...model, path, name: path.split('/').pop()!.replace(/\.gguf$/, ''), loaded: true, error: null };
      emit('modelChanged', model);
      return model;
    },
    async getRecommendedModels() { return recommended; },
    async downloadModel(id) {
      record('downloadModel', [id]);
      emit('downloadProgress', { id, downloadedBytes: 200_000_000, totalBytes: 807_000_000, state: 'downloading', error: null });
      if (options.downloadError) {
        emit('downloadProgress', { id, downloadedBytes: 0, totalBytes: 807_000_000, state: 'failed', error: options.downloadError });
        throw new ParamKbError('download-failed', options.downloadError);
      }
    },
    async cancelDownload(id) {
      record('cancelDownload', [id]);
      emit('downloadProgress', { id, downloadedBytes: 200_000_000, totalBytes: 807_000_000, state: 'cancelled', error: null });
    },
    async getEmbeddingStatus() { return embedding; },
    async openEmbeddingModel(path) {
      record('openEmbeddingModel', [path]);
      if (!path.endsWith('.gguf')) throw new ParamKbError('not-gguf', `${path} is not a GGUF model file.`);
      embedding = { ...embedding, model: { path, name: path.split('/').pop()!.replace(/\.gguf$/, ''), dimensions: 384, sizeBytes: 46_226_496 }, running: true, error: null };
      emit('embeddingProgress', embedding);
      return embedding;
    },
    async getSettings() { return settings; },
    async updateSettings(patch) {
      record('updateSettings', [patch]);
      settings = { ...settings, ...patch };
      return settings;
    },
  };

  const on = <E extends ApiEvent>(event: E, handler: EventHandler<E>) => {
    let set = handlers.get(event);
    if (!set) handlers.set(event, (set = new Set()));
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => void set.delete(h);
  };
  return { ...api, on, emit, calls };
}
