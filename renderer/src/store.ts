// All renderer state in one zustand store, created around an ApiClient (the real one, or a fake
// in component tests). Views read slices of it and call its actions; only the actions talk to
// the API, and every API error ends up in `notices` or in place (modelError, importError).
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ApiClient } from '../../electron/shared/rpc.js';
import type { DesktopShell } from '../../electron/shared/desktop.js';
import type {
  AnswerMode, ChatMessage, ChatSummary, ComputeDeviceList, DocumentDetail, DocumentSummary, DownloadProgress, EmbeddingStatus, EncodingEstimate, EncodingPolicy, EncodingQueueStatus,
  ImportFailureList, ImportProgress, ImportReport, ModelInfo, PackExportReport, PackImportReport, PackProgress, RecommendedModel, SearchHit, Settings,
} from '../../electron/shared/types.js';
import type { UploadedFile } from '../../electron/shared/contract.js';
import type { ConnectionState } from './webSocketTransport.js';

export type View = 'chat' | 'knowledge' | 'models' | 'settings';

/** An import of more new passages than this asks what to encode before the encoder spends hours on it. */
export const LARGE_IMPORT_PASSAGES = 500;

export interface Notice {
  id: number;
  tone: 'error' | 'info';
  text: string;
}

/** The answer being streamed; requestId is null until ask() returns. */
export interface StreamingAnswer {
  chatId: number;
  requestId: string | null;
  mode: AnswerMode;
  text: string;
}

export interface AppState {
  ready: boolean;
  connection: ConnectionState;
  /** Set when the first load failed: the app shows it instead of a blank screen. */
  loadError: string | null;
  view: View;
  /** Native dialogs and "open file", present only in the Electron app. */
  shell: DesktopShell | null;

  chats: ChatSummary[];
  activeChatId: number | null;
  messages: Record<number, ChatMessage[]>;
  streaming: StreamingAnswer | null;
  /** Why the last question could not be asked (shown by the question box, which keeps it). */
  askError: { text: string; needsModel: boolean } | null;
  mode: AnswerMode;

  documents: DocumentSummary[];
  openDocument: { detail: DocumentDetail; highlightPassageId: number | null } | null;
  searchQuery: string;
  searchResults: SearchHit[] | null;
  importing: ImportProgress | null;
  lastImport: ImportReport | null;
  /** Files not imported (failed or skipped), kept by the engine until dismissed. */
  importFailures: ImportFailureList | null;
  /** What encoding a large import costs, until the user chooses what to encode. */
  encodingChoice: EncodingEstimate | null;
  queue: EncodingQueueStatus | null;
  /** The knowledge pack being exported or imported, as far as it got. */
  packWork: PackProgress | null;
  lastPack: { operation: 'export'; report: PackExportReport } | { operation: 'import'; report: PackImportReport } | null;
  /** Why the last pack export or import failed, shown in place. */
  packError: string | null;

  model: ModelInfo | null;
  modelError: string | null;
  recommended: RecommendedModel[];
  downloads: Record<string, DownloadProgress>;
  /** The embedding model for vector search and how far background embedding is. */
  embedding: EmbeddingStatus | null;
  embeddingError: string | null;
  /** The devices encoding can train on, once the Models view asked (listing loads GPU drivers). */
  encodingDevices: ComputeDeviceList | null;

  settings: Settings | null;
  notices: Notice[];
}

export interface AppActions {
  init(): Promise<void>;
  setView(view: View): void;
  setConnection(state: ConnectionState): void;
  notify(text: string, tone?: Notice['tone']): void;
  dismissNotice(id: number): void;

  selectChat(id: number | null): Promise<void>;
  newChat(): void;
  renameChat(id: number, title: string): Promise<void>;
  deleteChat(id: number): Promise<void>;
  setMode(mode: AnswerMode): void;
  /** Resolves true when the question was sent, false when it could not be (see askError). */
  ask(question: string): Promise<boolean>;
  clearAskError(): void;
  stopAnswer(): Promise<void>;

  refreshDocuments(): Promise<void>;
  importPaths(paths: string[]): Promise<void>;
  importFiles(files: File[]): Promise<void>;
  dismissImportFailures(): Promise<void>;
  /** Answers the question after a large import: encode all, on demand, or not now (paused). */
  chooseEncoding(policy: EncodingPolicy): Promise<void>;
  search(query: string): Promise<void>;
  showDocument(id: number, highlightPassageId?: number | null): Promise<void>;
  closeDocument(): void;
  deleteDocument(id: number): Promise<void>;
  reencodeDocument(id: number): Promise<void>;
  setEncodingPaused(paused: boolean): Promise<void>;
  exportPack(path: string): Promise<void>;
  importPack(path: string): Promise<void>;

  openModel(path: string): Promise<void>;
  openEmbeddingModel(path: string): Promise<void>;
  downloadModel(id: string): Promise<void>;
  cancelDownload(id: string): Promise<void>;
  loadEncodingDevices(): Promise<void>;
  updateSettings(patch: Partial<Settings>): Promise<boolean>;
}

export type AppStore = StoreApi<AppState & AppActions>;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const NO_MODEL_TEXT = 'No model is loaded, so nothing can answer yet. Open a GGUF model file you have, or download a recommended one, in Models.';

function chatTitleFrom(question: string): string {
  const line = question.trim().replace(/\s+/g, ' ');
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

/** Reads a picked or dropped file as base64 (FileReader's data URL avoids a byte loop in JS). */
function toUpload(file: File): Promise<UploadedFile> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(new Error(`Could not read ${file.name}: ${reader.error?.message ?? 'unknown error'}`));
    reader.onload = () => {
      const dataUrl = String(reader.result);
      // Files from a folder input carry their relative path; keep it so titles stay meaningful.
      const name = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
      resolve({ name, base64: dataUrl.slice(dataUrl.indexOf(',') + 1) });
    };
    reader.readAsDataURL(file);
  });
}

export function createAppStore(api: ApiClient, shell: DesktopShell | null = null): AppStore {
  let nextNoticeId = 1;
  const store = createStore<AppState & AppActions>()((set, get) => {
    /** Runs an API call; on failure shows a notice and returns undefined. */
    async function attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
      try {
        return await call();
      } catch (error) {
        get().notify(errorMessage(error));
        return undefined;
      }
    }
    /** Shows the report; a large import under the 'all' policy asks what to encode (LARGE_IMPORT_PASSAGES). */
    function afterImport(report: ImportReport): void {
      const large = report.encoding && report.encoding.passages > LARGE_IMPORT_PASSAGES && get().settings?.encodingPolicy === 'all';
      set({ lastImport: report, ...(large ? { encodingChoice: report.encoding } : {}) });
    }
    async function refreshImportFailures(): Promise<void> {
      const importFailures = await attempt(() => api.listImportFailures());
      if (importFailures) set({ importFailures });
    }
    /** Runs an API call that returns nothing; on failure shows a notice. True when it worked. */
    async function succeeded(call: () => Promise<unknown>): Promise<boolean> {
      try {
        await call();
        return true;
      } catch (error) {
        get().notify(errorMessage(error));
        return false;
      }
    }

    return {
      ready: false,
      connection: 'connecting',
      loadError: null,
      view: 'chat',
      shell,
      chats: [],
      activeChatId: null,
      messages: {},
      streaming: null,
      askError: null,
      mode: 'combine',
      documents: [],
      openDocument: null,
      searchQuery: '',
      searchResults: null,
      importing: null,
      lastImport: null,
      importFailures: null,
      encodingChoice: null,
      queue: null,
      packWork: null,
      lastPack: null,
      packError: null,
      model: null,
      modelError: null,
      recommended: [],
      downloads: {},
      embedding: null,
      embeddingError: null,
      encodingDevices: null,
      settings: null,
      notices: [],

      async init() {
        try {
          const [chats, documents, queue, model, recommended, settings, embedding, importFailures] = await Promise.all([
            api.listChats(), api.listDocuments(), api.getEncodingQueue(), api.getModel(), api.getRecommendedModels(), api.getSettings(), api.getEmbeddingStatus(),
            api.listImportFailures(),
          ]);
          set({ chats, documents, queue, model, recommended, settings, embedding, importFailures, mode: settings.defaultMode, ready: true, loadError: null });
          const first = chats[0];
          if (first) await get().selectChat(first.id);
        } catch (error) {
          set({ loadError: errorMessage(error) });
        }
      },
      setView: (view) => set({ view }),
      setConnection: (connection) => set({ connection }),
      notify(text, tone = 'error') {
        const notice = { id: nextNoticeId++, tone, text };
        set((s) => ({ notices: [...s.notices.slice(-4), notice] }));
      },
      dismissNotice: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),

      async selectChat(id) {
        set({ activeChatId: id, view: 'chat' });
        if (id === null) return;
        const messages = await attempt(() => api.getMessages(id));
        if (messages) set((s) => ({ messages: { ...s.messages, [id]: messages } }));
      },
      // A chat is created lazily by its first question, so "New chat" never leaves empty ones.
      newChat: () => set({ activeChatId: null, view: 'chat' }),
      async renameChat(id, title) {
        const trimmed = title.trim();
        if (!trimmed) return;
        const chat = await attempt(() => api.renameChat(id, trimmed));
        if (chat) set((s) => ({ chats: s.chats.map((c) => (c.id === id ? chat : c)) }));
      },
      async deleteChat(id) {
        if (!(await succeeded(() => api.deleteChat(id)))) return;
        set((s) => {
          const { [id]: _removed, ...messages } = s.messages;
          return {
            chats: s.chats.filter((c) => c.id !== id),
            messages,
            activeChatId: s.activeChatId === id ? null : s.activeChatId,
          };
        });
      },
      setMode: (mode) => set({ mode }),

      async ask(question) {
        const text = question.trim();
        if (!text || get().streaming) return false;
        const { mode, settings, model } = get();
        // Without a model nothing can answer: say so before a chat is made for the question.
        if (!model?.loaded) {
          set({ askError: { text: NO_MODEL_TEXT, needsModel: true } });
          return false;
        }
        set({ askError: null });
        let chatId = get().activeChatId;
        let newChatId: number | null = null;
        if (chatId === null) {
          const chat = await attempt(() => api.createChat(chatTitleFrom(text)));
          if (!chat) return false;
          chatId = newChatId = chat.id;
          set((s) => ({ chats: [chat, ...s.chats], activeChatId: chat.id, messages: { ...s.messages, [chat.id]: [] } }));
        }
        // Tokens can arrive before ask() resolves, so the stream is keyed by chat first.
        set({ streaming: { chatId, requestId: null, mode, text: '' } });
        try {
          const { requestId, userMessage } = await api.ask({ chatId, question: text, mode, k: settings?.topK ?? 3 });
          addMessage(store, userMessage);
          set((s) => (s.streaming?.chatId === chatId ? { streaming: { ...s.streaming, requestId } } : {}));
          return true;
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          set({ streaming: null, askError: code === 'no-model' ? { text: NO_MODEL_TEXT, needsModel: true } : { text: errorMessage(error), needsModel: false } });
          // The chat made for this question would stay empty, named after a question never asked.
          if (newChatId !== null) await get().deleteChat(newChatId);
          return false;
        }
      },
      clearAskError: () => set({ askError: null }),
      async stopAnswer() {
        const requestId = get().streaming?.requestId;
        if (requestId) await succeeded(() => api.cancelAnswer(requestId));
      },

      async refreshDocuments() {
        const documents = await attempt(() => api.listDocuments());
        if (documents) set({ documents });
      },
      async importPaths(paths) {
        const clean = paths.map((p) => p.trim()).filter(Boolean);
        if (clean.length === 0) return;
        set({ importing: { done: 0, total: clean.length, currentPath: clean[0] ?? '' } });
        const report = await attempt(() => api.importPaths(clean));
        set({ importing: null });
        if (report) afterImport(report);
        await Promise.all([get().refreshDocuments(), refreshImportFailures()]);
      },
      async importFiles(files) {
        if (files.length === 0) return;
        set({ importing: { done: 0, total: files.length, currentPath: files[0]?.name ?? '' } });
        const uploads = await attempt(() => Promise.all(files.map(toUpload)));
        const report = uploads && (await attempt(() => api.importUploads(uploads)));
        set({ importing: null });
        if (report) afterImport(report);
        await Promise.all([get().refreshDocuments(), refreshImportFailures()]);
      },
      async chooseEncoding(policy) {
        set({ encodingChoice: null });
        if (get().settings?.encodingPolicy !== policy) await get().updateSettings({ encodingPolicy: policy });
      },
      async dismissImportFailures() {
        if (await succeeded(() => api.dismissImportFailures())) set({ importFailures: { total: 0, items: [] } });
      },
      async search(query) {
        set({ searchQuery: query });
        if (!query.trim()) {
          set({ searchResults: null });
          return;
        }
        const results = await attempt(() => api.search(query, 20));
        // Keep only the answer to the latest query when typing fast.
        if (results && get().searchQuery === query) set({ searchResults: results });
      },
      async showDocument(id, highlightPassageId = null) {
        const detail = await attempt(() => api.getDocument(id));
        if (detail) set({ openDocument: { detail, highlightPassageId } });
      },
      closeDocument: () => set({ openDocument: null }),
      async deleteDocument(id) {
        if (!(await succeeded(() => api.deleteDocument(id)))) return;
        set((s) => ({
          documents: s.documents.filter((d) => d.id !== id),
          searchResults: s.searchResults?.filter((h) => h.documentId !== id) ?? null,
          openDocument: s.openDocument?.detail.id === id ? null : s.openDocument,
        }));
      },
      async reencodeDocument(id) {
        if (!(await succeeded(() => api.reencodeDocument(id)))) return;
        await get().refreshDocuments();
      },
      async setEncodingPaused(paused) {
        const queue = await attempt(() => (paused ? api.pauseEncoding() : api.resumeEncoding()));
        if (!queue) return;
        // Pausing is the 'paused' encoding policy: the settings changed too.
        const settings = await attempt(() => api.getSettings());
        set({ queue, ...(settings ? { settings } : {}) });
      },

      async exportPack(path) {
        const trimmed = path.trim();
        if (!trimmed || get().packWork) return;
        set({ packWork: { operation: 'export', phase: 'writing', done: 0, total: 0 }, packError: null, lastPack: null });
        try {
          set({ lastPack: { operation: 'export', report: await api.exportPack(trimmed, null) } });
        } catch (error) {
          set({ packError: errorMessage(error) });
        } finally {
          set({ packWork: null });
        }
      },
      async importPack(path) {
        const trimmed = path.trim();
        if (!trimmed || get().packWork) return;
        set({ packWork: { operation: 'import', phase: 'verifying', done: 0, total: 0 }, packError: null, lastPack: null });
        try {
          set({ lastPack: { operation: 'import', report: await api.importPack(trimmed) } });
        } catch (error) {
          set({ packError: errorMessage(error) });
        } finally {
          set({ packWork: null });
        }
        await get().refreshDocuments();
      },

      async openModel(path) {
        const trimmed = path.trim();
        if (!trimmed) return;
        set({ modelError: null });
        try {
          set({ model: await api.openModel(trimmed) });
        } catch (error) {
          set({ modelError: errorMessage(error) });
        }
      },
      async openEmbeddingModel(path) {
        const trimmed = path.trim();
        if (!trimmed) return;
        set({ embeddingError: null });
        try {
          set({ embedding: await api.openEmbeddingModel(trimmed) });
        } catch (error) {
          set({ embeddingError: errorMessage(error) });
        }
      },
      async downloadModel(id) {
        set((s) => ({ downloads: { ...s.downloads, [id]: { id, downloadedBytes: 0, totalBytes: 0, state: 'downloading', error: null } } }));
        try {
          await api.downloadModel(id);
        } catch (error) {
          // The model's card shows a failure in place (from downloadProgress, or from here when
          // no event said so): once, not again as a notice.
          set((s) => {
            const current = s.downloads[id];
            if (current && current.state !== 'downloading') return {};
            return { downloads: { ...s.downloads, [id]: { id, downloadedBytes: current?.downloadedBytes ?? 0, totalBytes: current?.totalBytes ?? 0, state: 'failed', error: errorMessage(error) } } };
          });
        }
      },
      async cancelDownload(id) {
        await succeeded(() => api.cancelDownload(id));
      },
      async loadEncodingDevices() {
        const encodingDevices = await attempt(() => api.getEncodingDevices());
        if (encodingDevices) set({ encodingDevices });
      },
      async updateSettings(patch) {
        const settings = await attempt(() => api.updateSettings(patch));
        if (!settings) return false;
        set({ settings });
        return true;
      },
    };
  });

  subscribeToEvents(api, store);
  return store;
}

/** Adds a message in id order: an answer can finish before ask() has returned its question. */
function addMessage(store: AppStore, message: ChatMessage): void {
  store.setState((s) => {
    const list = (s.messages[message.chatId] ?? []).filter((m) => m.id !== message.id);
    return { messages: { ...s.messages, [message.chatId]: [...list, message].sort((a, b) => a.id - b.id) } };
  });
}

/** Keeps the store in step with what the engine reports. */
function subscribeToEvents(api: ApiClient, store: AppStore): void {
  const { setState: set, getState: get } = store;
  const isCurrent = (chatId: number, requestId: string) => {
    const s = get().streaming;
    return s !== null && s.chatId === chatId && (s.requestId === null || s.requestId === requestId);
  };

  api.on('answerToken', ({ requestId, chatId, text }) => {
    if (isCurrent(chatId, requestId)) set((s) => ({ streaming: s.streaming && { ...s.streaming, requestId, text: s.streaming.text + text } }));
  });
  api.on('answerDone', ({ requestId, chatId, message }) => {
    if (isCurrent(chatId, requestId)) set({ streaming: null });
    addMessage(store, message);
    void api.listChats().then((chats) => set({ chats }), () => {});
  });
  api.on('answerError', ({ requestId, chatId, error, message }) => {
    if (isCurrent(chatId, requestId)) set({ streaming: null });
    // With a message the error is shown in place, in the conversation; without one, as a notice.
    if (message) addMessage(store, message);
    else if (error.code !== 'cancelled') get().notify(error.message);
  });
  api.on('importProgress', (importing) => set({ importing: importing.done >= importing.total ? null : importing }));
  api.on('packProgress', (progress) => { if (get().packWork) set({ packWork: progress }); });
  api.on('documentsChanged', () => void get().refreshDocuments());
  api.on('encodingQueueChanged', (queue) => set({ queue }));
  api.on('modelChanged', (model) => set((s) => ({ model, askError: model.loaded && s.askError?.needsModel ? null : s.askError })));
  api.on('embeddingProgress', (embedding) => set({ embedding }));
  api.on('downloadProgress', (progress) => set((s) => ({ downloads: { ...s.downloads, [progress.id]: progress } })));
  api.on('processCrashed', ({ process, message }) => {
    // The restarted process knows nothing of the answer in flight: end it and reload.
    if (process === 'engine') set({ streaming: null });
    get().notify(`The ${process} process stopped unexpectedly (${message}). It is being restarted.`);
    if (process === 'engine') void get().init();
  });
}
