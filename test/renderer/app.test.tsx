// @vitest-environment jsdom
// The renderer against a fake ApiClient: every screen, the streamed answer with sources,
// imports, search, errors in place, theme and shortcuts.
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../renderer/src/App.js';
import { ErrorBoundary } from '../../renderer/src/components/ErrorBoundary.js';
import { StoreProvider } from '../../renderer/src/StoreContext.js';
import { createAppStore } from '../../renderer/src/store.js';
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

  it('shows an error in place when asking fails', async () => {
    await renderApp({ documents: DOCS, modelLoaded: false });
    const question = screen.getByRole('textbox', { name: 'Question' });
    fireEvent.change(question, { target: { value: 'anything' } });
    fireEvent.keyDown(question, { key: 'Enter' });
    expect((await screen.findByRole('alert')).textContent).toContain('No model is loaded.');
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
    const { api } = await renderApp();
    go('Knowledge');
    act(() => api.emit('encodingQueueChanged', {
      availability: { available: true }, paused: false, queued: 2, running: 1, done: 1, failed: 0, total: 4, etaSeconds: 95,
      current: { passageId: 1, documentTitle: 'rivers.md', step: 'training', progress: 0.5 },
    }));
    const queue = screen.getByRole('region', { name: 'Encoding queue' });
    expect(within(queue).getByRole('progressbar', { name: 'Encoding progress' }).getAttribute('aria-valuenow')).toBe('25');
    expect(within(queue).getByText(/About 2 min left/)).toBeTruthy();
    expect(within(queue).getByText(/rivers\.md — training \(50%\)/)).toBeTruthy();
    fireEvent.click(within(queue).getByRole('button', { name: /Pause/ }));
    await within(queue).findByRole('button', { name: /Resume/ });
    expect(screen.queryByRole('region', { name: 'Encoding unavailable' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Re-encode rivers.md' })).toBeTruthy();
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

describe('models and settings', () => {
  it('explains a file that is not a usable model, and shows downloads', async () => {
    const { api } = await renderApp();
    go('Models');
    fireEvent.change(screen.getByRole('textbox', { name: 'Path to a GGUF model file' }), { target: { value: '/tmp/notes.txt' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open model' }));
    expect((await screen.findByRole('alert')).textContent).toContain('is not a GGUF model file');

    const card = screen.getByRole('listitem', { name: 'Llama 3.2 1B Instruct' });
    fireEvent.click(within(card).getByRole('button', { name: /Download/ }));
    await waitFor(() => expect(within(card).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('24'));
    fireEvent.click(within(card).getByRole('button', { name: 'Cancel' }));
    await within(card).findByRole('button', { name: /Resume download/ });
    expect(api.calls.map((c) => c.method)).toContain('cancelDownload');
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
