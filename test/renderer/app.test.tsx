// @vitest-environment jsdom
// The renderer against a fake ApiClient: every screen, the streamed answer with sources,
// imports, search, errors in place, theme and shortcuts.
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../renderer/src/App.js';
import { ErrorBoundary } from '../../renderer/src/components/ErrorBoundary.js';
import { StoreProvider } from '../../renderer/src/StoreContext.js';
import { createAppStore } from '../../renderer/src/store.js';
import { ParamKbError } from '../../electron/shared/errors.js';
import { createFakeApi, type FakeApiOptions } from './fakeApi.js';

const DOCS: [string, string[]][] = [
  ['rivers.md', ['The Danube flows through ten countries and ends in the Black Sea.', 'The Rhine starts in the Alps.']],
  ['castles.txt', ['Bran Castle stands near Brasov in Romania.']],
];

async function renderApp(options: FakeApiOptions = { documents: DOCS }) {
  const api = createFakeApi(options);
  const store = createAppStore(api);
  await store.getState().init();
  render(<StoreProvider store={store}><App /></StoreProvider>);
  return { api, store };
}

function go(screenName: 'Chat' | 'Knowledge' | 'Models' | 'Settings') {
  const nav = screen.getByRole('navigation', { name: 'Screens' });
  fireEvent.click(within(nav).getByRole('button', { name: screenName }));
}

afterEach(cleanup);

// jsdom lays nothing out (every size is 0), so a virtualised list would show no row: give
// scroll areas a 600 px view and each element a 100 px height.
const layout = { clientHeight: 600, offsetHeight: 100 } as const;
const originals = new Map<string, PropertyDescriptor | undefined>();
beforeAll(() => {
  for (const [name, value] of Object.entries(layout)) {
    originals.set(name, Object.getOwnPropertyDescriptor(HTMLElement.prototype, name));
    Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => value });
  }
});
afterAll(() => {
  for (const [name, descriptor] of originals) if (descriptor) Object.defineProperty(HTMLElement.prototype, name, descriptor);
});

describe('chat', () => {
  it('tells a first-time user what to do', async () => {
    await renderApp({ documents: [], modelLoaded: false });
    expect(screen.getByRole('heading', { name: 'Ask your documents' })).toBeTruthy();
    expect(screen.getByText(/Open a model/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Go to Knowledge' }));
    expect(screen.getByRole('heading', { name: 'No documents yet' })).toBeTruthy();
  });

  it('streams an answer with its sources, in the chosen mode, and names the new chat', async () => {
    const { api } = await renderApp();
    fireEvent.click(screen.getByRole('radio', { name: 'Combine' }));
    const question = screen.getByRole('textbox', { name: 'Question' });
    fireEvent.change(question, { target: { value: 'Where does the Danube end?' } });
    fireEvent.keyDown(question, { key: 'Enter' });

    const sources = await screen.findByRole('list', { name: 'Sources' });
    const answer = sources.closest('article')!;
    expect(within(answer).getByText('Based on your documents, the answer is 42.')).toBeTruthy();
    expect(within(answer).getByText('Combine')).toBeTruthy();
    // Combine says which of its two answers it kept, and what the other one was.
    expect(within(answer).getByText(/Kept the passages’ answer/).textContent).toContain('The adapters answered: “41”.');
    expect(api.calls.find((c) => c.method === 'ask')?.args[0]).toMatchObject({ mode: 'combine', k: 3, question: 'Where does the Danube end?' });
    expect(within(sources).getAllByRole('button', { name: /rivers\.md/ })).toHaveLength(2);
    expect(within(sources).getByText('adapter')).toBeTruthy();
    expect(within(sources).getAllByText('context').length).toBeGreaterThan(0);
    const history = screen.getByRole('region', { name: 'Chat history' });
    expect(within(history).getByRole('button', { name: 'Where does the Danube end?' })).toBeTruthy();

    // A source opens its document with the passage highlighted.
    fireEvent.click(within(sources).getAllByRole('button', { name: /rivers\.md/ })[0]!);
    const drawer = await screen.findByRole('dialog', { name: 'rivers.md' });
    expect(within(drawer).getByText(/ends in the Black Sea/).closest('li')?.className).toContain('passage--highlight');
  });

  it('stops an answer with the Stop button', async () => {
    const { api } = await renderApp({ documents: DOCS, tokenDelayMs: 30 });
    const question = screen.getByRole('textbox', { name: 'Question' });
    fireEvent.change(question, { target: { value: 'Tell me about castles' } });
    fireEvent.click(screen.getByRole('button', { name: /Send/ }));
    const stop = await screen.findByRole('button', { name: /Stop/ });
    await screen.findByText(/Based/);
    fireEvent.click(stop);
    await screen.findByText('Stopped.');
    expect(api.calls.some((c) => c.method === 'cancelAnswer')).toBe(true);
    expect(screen.getByRole('button', { name: /Send/ })).toBeTruthy();
  });

  it('renames and deletes chats', async () => {
    const { api, store } = await renderApp();
    await act(() => store.getState().ask('first question'));
    await waitFor(() => expect(store.getState().streaming).toBeNull());
    fireEvent.click(screen.getByRole('button', { name: 'Rename chat first question' }));
    const input = screen.getByRole('textbox', { name: 'Chat title' });
    fireEvent.change(input, { target: { value: 'Renamed' } });
    fireEvent.submit(input.closest('form')!);
    await screen.findByRole('button', { name: 'Renamed' });
    fireEvent.click(screen.getByRole('button', { name: 'Delete chat Renamed' }));
    fireEvent.click(screen.getByRole('button', { name: 'Confirm: Delete chat Renamed' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Renamed' })).toBeNull());
    expect(api.calls.some((c) => c.method === 'deleteChat')).toBe(true);
  });

  it('without a model, keeps the question, makes no chat and says how to get a model', async () => {
    const { api } = await renderApp({ documents: DOCS, modelLoaded: false });
    const question = screen.getByRole('textbox', { name: 'Question' }) as HTMLTextAreaElement;
    fireEvent.change(question, { target: { value: 'Where does the Danube end?' } });
    fireEvent.keyDown(question, { key: 'Enter' });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('No model is loaded');
    expect(question.value).toBe('Where does the Danube end?');
    expect(api.calls.map((c) => c.method)).not.toContain('ask');
    expect(await api.listChats()).toEqual([]);
    fireEvent.click(within(alert).getByRole('button', { name: 'Go to Models' }));
    const empty = screen.getByRole('region', { name: 'Current model' });
    expect(within(empty).getByRole('heading', { name: 'No model loaded' })).toBeTruthy();
    expect(empty.textContent).toContain('download SmolLM2 135M below');
  });

  it('when the engine refuses the question, removes the chat made for it and keeps the question', async () => {
    const { api } = await renderApp();
    api.ask = async () => { throw new ParamKbError('no-model', 'No model is loaded. Open a GGUF model file (Models) or set PARAMKB_MODEL / --model.'); };
    const question = screen.getByRole('textbox', { name: 'Question' }) as HTMLTextAreaElement;
    fireEvent.change(question, { target: { value: 'Who built Bran Castle?' } });
    fireEvent.click(screen.getByRole('button', { name: /Send/ }));
    expect((await screen.findByRole('alert')).textContent).toContain('No model is loaded');
    await waitFor(() => expect(api.calls.map((c) => c.method)).toContain('deleteChat'));
    expect(await api.listChats()).toEqual([]);
    expect(screen.queryByRole('button', { name: 'Who built Bran Castle?' })).toBeNull();
    expect(question.value).toBe('Who built Bran Castle?');
  });
});

describe('knowledge', () => {
  it('imports a path, shows statuses, searches and deletes', async () => {
    const { api } = await renderApp();
    go('Knowledge');
    const table = screen.getByRole('table');
    expect(within(table).getAllByText('Indexed')).toHaveLength(2);

    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a file or folder' }), { target: { value: '/home/me/notes.md' } });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    await screen.findByRole('row', { name: 'notes.md' });
    expect(screen.getByRole('status', { name: 'Import result' }).textContent).toContain('Added 1');
    expect(api.calls.find((c) => c.method === 'importPaths')?.args).toEqual([['/home/me/notes.md']]);

    fireEvent.change(screen.getByRole('searchbox', { name: 'Search the knowledge base' }), { target: { value: 'castle' } });
    const results = await screen.findByRole('list', { name: 'Search results' });
    expect(within(results).getByText('Castle').tagName).toBe('MARK');

    const row = screen.getByRole('row', { name: 'castles.txt' });
    fireEvent.click(within(row).getByRole('button', { name: 'Delete castles.txt' }));
    fireEvent.click(within(row).getByRole('button', { name: 'Confirm: Delete castles.txt' }));
    await waitFor(() => expect(screen.queryByRole('row', { name: 'castles.txt' })).toBeNull());
    expect(screen.queryByRole('list', { name: 'Search results' })).toBeNull();
  });

  it('shows encoding progress and failures from events, and pauses the queue', async () => {
    const { api, store } = await renderApp();
    go('Knowledge');
    const rivers = store.getState().documents.find((d) => d.title === 'rivers.md')!;
    // Before any passage is done: the stage moves, the time left is not known yet.
    act(() => api.emit('encodingQueueChanged', {
      availability: { available: true }, paused: false, queued: 3, running: 1, done: 0, failed: 0, total: 4, secondsPerPassage: null, etaSeconds: null, blocked: null, device: null,
      current: { passageId: 1, documentId: rivers.id, position: 1, documentTitle: 'rivers.md', step: 'augmenting: 240 of about 1200 tokens written (4 passages together)', progress: 0.14 },
    }));
    const queue = screen.getByRole('region', { name: 'Encoding queue' });
    expect(within(queue).getByText(/rivers\.md, passage 2 — augmenting: 240 of about 1200 tokens written \(4 passages together\) \(14%\)/)).toBeTruthy();
    expect(within(queue).getByText('Time left: known once the first passage is done')).toBeTruthy();
    expect(within(screen.getByRole('row', { name: 'rivers.md' })).getByText('Passage 2: augmenting: 240 of about 1200 tokens written (4 passages together)')).toBeTruthy();
    // After one: a rate and the time left.
    act(() => api.emit('encodingQueueChanged', {
      availability: { available: true }, paused: false, queued: 2, running: 1, done: 1, failed: 0, total: 4, secondsPerPassage: 38, etaSeconds: 95, blocked: null, device: null,
      current: { passageId: 2, documentId: rivers.id, position: 0, documentTitle: 'rivers.md', step: 'training: step 3 of 6', progress: 0.5 },
    }));
    expect(within(queue).getByRole('progressbar', { name: 'Encoding progress' }).getAttribute('aria-valuenow')).toBe('25');
    expect(within(queue).getByText('38 s per passage')).toBeTruthy();
    expect(within(queue).getByText(/About 2 min left/)).toBeTruthy();
    expect(within(queue).getByText(/rivers\.md, passage 1 — training: step 3 of 6 \(50%\)/)).toBeTruthy();
    fireEvent.click(within(queue).getByRole('button', { name: /Pause/ }));
    await within(queue).findByRole('button', { name: /Resume/ });
    expect(store.getState().settings?.encodingPolicy).toBe('paused');
    expect(screen.queryByRole('region', { name: 'Encoding unavailable' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Re-encode rivers.md' })).toBeTruthy();
  });

  it('after a large import, says what encoding costs and lets the user choose what to encode', async () => {
    const { api } = await renderApp();
    go('Knowledge');
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a file or folder' }), { target: { value: '/home/me/large.txt' } });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    const choice = await screen.findByRole('region', { name: 'Encode the new passages?' });
    expect(within(choice).getByRole('heading').textContent).toBe('Encode 26,657 new passages?');
    expect(choice.textContent).toContain('about 2 days of this computer’s time (7 s per passage, measured on this model)');
    fireEvent.click(within(choice).getByRole('button', { name: 'Encode on demand' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Encode the new passages?' })).toBeNull());
    expect(api.calls.find((c) => c.method === 'updateSettings')?.args[0]).toEqual({ encodingPolicy: 'on-demand' });
    // A small import asks nothing.
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a file or folder' }), { target: { value: '/home/me/small.txt' } });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    await screen.findByRole('row', { name: 'small.txt' });
    expect(screen.queryByRole('region', { name: 'Encode the new passages?' })).toBeNull();
    go('Settings');
    expect(screen.getByRole('radio', { name: 'On demand' }).getAttribute('aria-checked')).toBe('true');
  });

  it('renders only the passages near the view of a large document, the highlighted one included', async () => {
    const passages = Array.from({ length: 20_000 }, (_, i) => `Passage number ${i} of the long log.`);
    const { api, store } = await renderApp({ documents: [['log.txt', passages]] });
    const detail = await api.getDocument((await api.listDocuments())[0]!.id);
    await act(() => store.getState().showDocument(detail.id, detail.passages[12_345]!.id));
    const drawer = await screen.findByRole('dialog', { name: 'log.txt' });
    const items = within(drawer).getAllByRole('listitem');
    expect(items.length).toBeGreaterThan(0);
    expect(items.length).toBeLessThan(50);
    const highlighted = within(drawer).getByText('Passage number 12345 of the long log.').closest('li')!;
    expect(highlighted.className).toContain('passage--highlight');
    expect(highlighted.getAttribute('aria-posinset')).toBe('12346');
    expect(highlighted.getAttribute('aria-setsize')).toBe('20000');
  });

  it('keeps the files that were not imported, with their count and reasons, until dismissed', async () => {
    const { api } = await renderApp();
    go('Knowledge');
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a file or folder' }), { target: { value: '/home/me/broken.pdf' } });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    await screen.findByRole('heading', { name: '1 file was not imported' });
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a file or folder' }), { target: { value: '/home/me/photo.png' } });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    expect((await screen.findByText(/1 skipped/)).closest('[role=status]')?.className).toContain('import-report--partial');
    await screen.findByRole('heading', { name: '2 files were not imported' });
    // Still there after leaving the screen and coming back.
    go('Chat');
    go('Knowledge');
    const problems = screen.getByRole('region', { name: 'Files not imported' });
    expect(within(problems).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      '/home/me/photo.png: Skipped: .png is not supported.', '/home/me/broken.pdf: The PDF cannot be read; it may be damaged.',
    ]);
    fireEvent.click(within(problems).getByRole('button', { name: 'Dismiss' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Files not imported' })).toBeNull());
    expect(api.calls.map((c) => c.method)).toContain('dismissImportFailures');
  });

  it('says where encoding is unavailable and why, instead of a queue that never moves', async () => {
    const reason = 'The native trainer is not built for win32-x64: the C++ build failed during npm install.';
    await renderApp({ documents: DOCS, encodingUnavailable: reason });
    go('Knowledge');
    const notice = screen.getByRole('region', { name: 'Encoding unavailable' });
    expect(within(notice).getByRole('heading').textContent).toBe('Parametric encoding is unavailable on this computer');
    expect(within(notice).getByText(reason)).toBeTruthy();
    expect(within(notice).getByText(/answers from your passages \(context mode\) work as usual/)).toBeTruthy();
    expect(screen.queryByRole('region', { name: 'Encoding queue' })).toBeNull();
    const row = screen.getByRole('row', { name: 'rivers.md' });
    expect(within(row).queryByRole('button', { name: 'Re-encode rivers.md' })).toBeNull();
    expect(within(row).getByText('Indexed').getAttribute('title')).toBe('Searchable; encoding is unavailable on this computer');
    go('Models');
    expect(within(screen.getByRole('region', { name: 'Encoding unavailable' })).getByText(reason)).toBeTruthy();
  });

  it('uploads dropped files as base64', async () => {
    const { api } = await renderApp();
    go('Knowledge');
    const file = new File(['Hello passage'], 'dropped.txt', { type: 'text/plain' });
    fireEvent.drop(screen.getByRole('region', { name: 'Import documents' }), { dataTransfer: { files: [file] } });
    await screen.findByRole('row', { name: 'dropped.txt' });
    const upload = api.calls.find((c) => c.method === 'importUploads')?.args[0] as { name: string; base64: string }[];
    expect(upload).toEqual([{ name: 'dropped.txt', base64: btoa('Hello passage') }]);
  });
});

describe('knowledge packs', () => {
  it('exports and imports a pack by path in a browser, and shows a refusal in place', async () => {
    const { api } = await renderApp();
    go('Knowledge');
    const packs = screen.getByRole('region', { name: 'Knowledge packs' });
    fireEvent.change(within(packs).getByRole('textbox', { name: 'Path of the pack to write' }), { target: { value: '/tmp/team.paramkb' } });
    fireEvent.click(within(packs).getByRole('button', { name: 'Export pack' }));
    const exported = await within(packs).findByRole('status', { name: 'Pack result' });
    expect(exported.textContent).toContain('Exported 2 documents, 3 passages and 3 adapters (47 KB) to /tmp/team.paramkb for tiny-llama');
    expect(api.calls.find((c) => c.method === 'exportPack')?.args).toEqual(['/tmp/team.paramkb', null]);

    const importPath = within(packs).getByRole('textbox', { name: 'Path of a pack to import' });
    fireEvent.change(importPath, { target: { value: '/tmp/other-model.paramkb' } });
    fireEvent.click(within(packs).getByRole('button', { name: 'Import pack' }));
    expect((await within(packs).findByRole('alert')).textContent).toContain('adapters are for the model Llama 3.2 1B Instruct');
    expect(screen.queryByRole('row', { name: 'handbook.md' })).toBeNull();

    fireEvent.change(importPath, { target: { value: '/tmp/team.paramkb' } });
    fireEvent.click(within(packs).getByRole('button', { name: 'Import pack' }));
    const imported = await within(packs).findByRole('status', { name: 'Pack result' });
    expect(imported.textContent).toContain('Imported 1 new documents (1 passages) and 1 adapters; 1 already here.');
    expect(within(packs).queryByRole('alert')).toBeNull();
    await screen.findByRole('row', { name: 'handbook.md' });
  });

  it('uses the native save and open dialogs in the desktop app', async () => {
    const api = createFakeApi({ documents: DOCS });
    const dialogs: string[] = [];
    const shell = {
      showOpenDialog: async (kind: string) => { dialogs.push(`open ${kind}`); return ['/home/me/handbook.paramkb']; },
      showSaveDialog: async (kind: string) => { dialogs.push(`save ${kind}`); return '/home/me/export.paramkb'; },
      openDocument: async () => undefined,
    };
    const store = createAppStore(api, shell);
    await store.getState().init();
    render(<StoreProvider store={store}><App /></StoreProvider>);
    go('Knowledge');
    const packs = screen.getByRole('region', { name: 'Knowledge packs' });
    expect(within(packs).queryByRole('textbox')).toBeNull();
    fireEvent.click(within(packs).getByRole('button', { name: /Export pack…/ }));
    await within(packs).findByText(/to \/home\/me\/export\.paramkb/);
    fireEvent.click(within(packs).getByRole('button', { name: /Import pack…/ }));
    await within(packs).findByText(/Imported 1 new documents/);
    expect(dialogs).toEqual(['save pack', 'open pack']);
    expect(api.calls.filter((c) => c.method === 'exportPack' || c.method === 'importPack').map((c) => c.args[0])).toEqual(['/home/me/export.paramkb', '/home/me/handbook.paramkb']);
  });
});

describe('models and settings', () => {
  it('explains a file that is not a usable model, and shows downloads', async () => {
    const { api } = await renderApp();
    go('Models');
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a GGUF model file' }), { target: { value: '/tmp/notes.txt' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open model' }));
    expect((await screen.findByRole('alert')).textContent).toContain('is not a GGUF model file');

    const card = screen.getByRole('listitem', { name: 'Llama 3.2 1B Instruct' });
    // What the model costs, from its memory and seconds per passage: 3600 / 120 = 30 an hour.
    expect(card.textContent).toContain('Needs about 4.7 GB of memory; learns about 30 passages an hour on a 2-core laptop (2 min each).');
    fireEvent.click(within(card).getByRole('button', { name: /Download/ }));
    await waitFor(() => expect(within(card).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('24'));
    fireEvent.click(within(card).getByRole('button', { name: 'Cancel' }));
    await within(card).findByRole('button', { name: /Resume download/ });
    expect(api.calls.map((c) => c.method)).toContain('cancelDownload');
  });

  it('opens an embedding model, shows background embedding progress, and offers one to download', async () => {
    const { api } = await renderApp();
    go('Models');
    const panel = screen.getByRole('region', { name: 'Embedding model' });
    expect(panel.textContent).toContain('Without one, search uses keywords only');
    // The embedding model is offered here, not among the chat models.
    within(panel).getByRole('listitem', { name: 'bge-small-en-v1.5' });
    expect(within(screen.getByRole('region', { name: 'Recommended models' })).queryByRole('listitem', { name: 'bge-small-en-v1.5' })).toBeNull();

    fireEvent.change(within(panel).getByRole('textbox', { name: 'Path to an embedding GGUF file' }), { target: { value: '/models/all-MiniLM-L6-v2.gguf' } });
    fireEvent.click(within(panel).getByRole('button', { name: 'Open embedding model' }));
    await waitFor(() => expect(panel.textContent).toContain('Search by meaning: all-MiniLM-L6-v2'));
    expect(api.calls.find((c) => c.method === 'openEmbeddingModel')?.args).toEqual(['/models/all-MiniLM-L6-v2.gguf']);
    act(() => api.emit('embeddingProgress', {
      model: { path: '/models/all-MiniLM-L6-v2.gguf', name: 'all-MiniLM-L6-v2', dimensions: 384, sizeBytes: 46_226_496 }, embedded: 30, total: 120, running: true, error: null,
    }));
    expect(within(panel).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('25');
    expect(panel.textContent).toContain('30 of 120 passages embedded');
  });

  it('says what the model really runs on', async () => {
    const { api } = await renderApp();
    go('Models');
    const model = await api.getModel();
    act(() => api.emit('modelChanged', { ...model, gpu: false, gpuDevices: [], gpuLayers: 0, layerCount: 17, computeNote: "Vulkan's only device, llvmpipe, is a software renderer that runs on the CPU, so the model runs on the CPU directly." }));
    const current = screen.getByRole('region', { name: 'Current model' });
    expect(within(current).getByText('CPU')).toBeTruthy();
    expect(within(current).getByText(/llvmpipe, is a software renderer/)).toBeTruthy();
    act(() => api.emit('modelChanged', { ...model, gpu: 'cuda', gpuDevices: ['NVIDIA H200'], gpuLayers: 17, layerCount: 17, computeNote: null }));
    expect(within(current).getByText('GPU (CUDA: NVIDIA H200), 17 of 17 layers')).toBeTruthy();
  });

  it('shows a failed download once, on its card', async () => {
    const error = 'The download of Llama 3.2 1B Instruct failed: the download server (huggingface.co) could not be reached. Check the internet connection and try again; it resumes where it stopped.';
    await renderApp({ documents: DOCS, downloadError: error });
    go('Models');
    const card = screen.getByRole('listitem', { name: 'Llama 3.2 1B Instruct' });
    fireEvent.click(within(card).getByRole('button', { name: /Download/ }));
    await within(card).findByRole('button', { name: /Resume download/ });
    expect(within(card).getByRole('alert').textContent).toBe(error);
    expect(screen.getAllByText(/could not be reached/)).toHaveLength(1);
  });

  it('saves the runtime settings, the encoder\'s threads and device included', async () => {
    const { api } = await renderApp();
    go('Models');
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Threads' }), { target: { value: '4' } });
    fireEvent.change(screen.getByRole('spinbutton', { name: 'Encoder threads' }), { target: { value: '1' } });
    // Automatic, the CPU, then every other device the trainer finds; a software renderer says what it is.
    const device = screen.getByRole('combobox', { name: 'Encoding device' }) as HTMLSelectElement;
    await waitFor(() => expect(within(device).getAllByRole('option').map((o) => [(o as HTMLOptionElement).value, o.textContent])).toEqual([
      ['auto', 'Automatic'], ['cpu', 'CPU'], ['Vulkan0', 'AMD Radeon 780M (Vulkan0)'], ['Vulkan1', 'llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan1): a software renderer, slower than the CPU'],
    ]));
    expect(device.value).toBe('auto');
    fireEvent.change(device, { target: { value: 'Vulkan0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save runtime settings' }));
    await waitFor(() => expect(api.calls.find((c) => c.method === 'updateSettings')?.args[0]).toEqual({ gpuLayers: 'auto', threads: 4, encoderThreads: 1, encoderDevice: 'Vulkan0' }));
  });

  it('shows the device encoding runs on and why, in the queue and beside the setting', async () => {
    const { api, store } = await renderApp();
    const status = { ...(await api.getEncodingQueue()), device: { name: 'CPU', description: 'AMD Ryzen 7 7840U', gpu: false, note: 'Encoding moved to the CPU after Vulkan0 failed: device lost' } };
    act(() => api.emit('encodingQueueChanged', status));
    go('Knowledge');
    const queue = screen.getByRole('region', { name: 'Encoding queue' });
    expect(within(queue).getByText('On AMD Ryzen 7 7840U (CPU)')).toBeTruthy();
    expect(within(queue).getByText('Encoding moved to the CPU after Vulkan0 failed: device lost')).toBeTruthy();
    go('Models');
    expect(screen.getByRole('status', { name: 'Encoding device now' }).textContent).toBe('Encoding now runs on AMD Ryzen 7 7840U (CPU). Encoding moved to the CPU after Vulkan0 failed: device lost');
    // No encoder running here: nothing claims a device.
    act(() => api.emit('encodingQueueChanged', { ...status, device: null }));
    expect(screen.queryByRole('status', { name: 'Encoding device now' })).toBeNull();
    go('Knowledge');
    expect(within(screen.getByRole('region', { name: 'Encoding queue' })).queryByText(/^On /)).toBeNull();
    // A saved device this computer lacks stays visible as such instead of turning into another.
    await act(async () => { await store.getState().updateSettings({ encoderDevice: 'CUDA0' }); });
    go('Models');
    const device = screen.getByRole('combobox', { name: 'Encoding device' }) as HTMLSelectElement;
    await waitFor(() => expect(device.value).toBe('CUDA0'));
    expect(within(device).getByRole('option', { name: 'CUDA0 (not found on this computer)' })).toBeTruthy();
  });

  it('validates and saves settings, and switches the theme', async () => {
    const { api } = await renderApp();
    go('Settings');
    const topK = screen.getByRole('spinbutton', { name: 'Passages per question (top-k)' });
    const save = screen.getByRole('button', { name: 'Save settings' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    fireEvent.change(topK, { target: { value: '99' } });
    expect(screen.getByText('Between 1 and 20.')).toBeTruthy();
    expect(save.disabled).toBe(true);
    fireEvent.change(topK, { target: { value: '5' } });
    fireEvent.click(save);
    await screen.findByText('Settings saved.');
    expect(api.calls.find((c) => c.method === 'updateSettings')?.args[0]).toMatchObject({ topK: 5 });
    expect(screen.getByText('/home/user/.config/ParamKB')).toBeTruthy();

    fireEvent.click(screen.getByRole('radio', { name: 'Dark' }));
    await waitFor(() => expect(document.documentElement.dataset.theme).toBe('dark'));
  });

  it('focuses search on Ctrl+K', async () => {
    await renderApp();
    fireEvent.keyDown(window, { key: 'k', ctrlKey: true });
    await waitFor(() => expect(document.activeElement?.id).toBe('knowledge-search'));
  });
});

describe('errors', () => {
  it('shows a render error in place instead of a blank screen', () => {
    const Broken = () => { throw new Error('boom'); };
    const original = console.error;
    console.error = () => {};
    try {
      render(<ErrorBoundary what="the test screen"><Broken /></ErrorBoundary>);
    } finally {
      console.error = original;
    }
    expect(screen.getByRole('alert').textContent).toContain('Something went wrong in the test screen');
    expect(screen.getByRole('alert').textContent).toContain('boom');
  });

  it('shows the load error with a retry', async () => {
    const api = createFakeApi();
    api.listChats = () => Promise.reject(new Error('database is locked'));
    const store = createAppStore(api);
    await store.getState().init();
    render(<StoreProvider store={store}><App /></StoreProvider>);
    expect(screen.getByRole('alert').textContent).toContain('database is locked');
    expect(screen.getByRole('button', { name: 'Retry' })).toBeTruthy();
  });
});
