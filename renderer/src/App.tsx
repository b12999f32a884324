// The shell of the app: sidebar, the current screen inside an error boundary, the document
// drawer, notices, the theme and the keyboard shortcuts.
import { useEffect, type ReactNode } from 'react';
import { FOCUS_TARGETS } from './focusTargets.js';
import { DocumentDrawer } from './components/DocumentDrawer.js';
import { ErrorBoundary } from './components/ErrorBoundary.js';
import { Notices } from './components/Notices.js';
import { Sidebar } from './components/Sidebar.js';
import { useApp, useStoreApi } from './StoreContext.js';
import type { AppStore, View } from './store.js';
import { ChatView } from './views/ChatView.js';
import { KnowledgeView } from './views/KnowledgeView.js';
import { ModelsView } from './views/ModelsView.js';
import { SettingsView } from './views/SettingsView.js';

const SCREENS: Record<View, { title: string; render: () => ReactNode }> = {
  chat: { title: 'the Chat screen', render: () => <ChatView /> },
  knowledge: { title: 'the Knowledge screen', render: () => <KnowledgeView /> },
  models: { title: 'the Models screen', render: () => <ModelsView /> },
  settings: { title: 'the Settings screen', render: () => <SettingsView /> },
};

export function App() {
  const ready = useApp((s) => s.ready);
  const loadError = useApp((s) => s.loadError);
  const connection = useApp((s) => s.connection);
  const view = useApp((s) => s.view);
  const theme = useApp((s) => s.settings?.theme ?? 'system');
  const init = useApp((s) => s.init);
  const store = useStoreApi();

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  useEffect(() => installShortcuts(store), [store]);

  const screen = SCREENS[view];
  return (
    <div className="app">
      <Sidebar />
      <main className="main">
        {connection === 'closed' && (
          <div className="banner banner--error" role="alert">
            Disconnected from the ParamKB server. Start it again (<code>paramkb serve</code>) and reload this page.
          </div>
        )}
        {loadError ? (
          <div className="error-panel" role="alert">
            <h2>ParamKB could not load</h2>
            <p className="error-panel__message">{loadError}</p>
            <button className="button" onClick={() => void init()}>Retry</button>
          </div>
        ) : !ready ? (
          <div className="loading" role="status">Loading your knowledge base…</div>
        ) : (
          <ErrorBoundary key={view} what={screen.title}>{screen.render()}</ErrorBoundary>
        )}
      </main>
      <DocumentDrawer />
      <Notices />
    </div>
  );
}

function focusSoon(id: string) {
  // After the screen switch has rendered.
  requestAnimationFrame(() => document.getElementById(id)?.focus());
}

/** Ctrl/Cmd+N new chat, Ctrl/Cmd+K search the knowledge base, Esc stops the answer. */
function installShortcuts(store: AppStore): () => void {
  const onKeyDown = (event: KeyboardEvent) => {
    const state = store.getState();
    const mod = event.ctrlKey || event.metaKey;
    if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === 'n') {
      event.preventDefault();
      state.newChat();
      focusSoon(FOCUS_TARGETS.question);
    } else if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      state.setView('knowledge');
      focusSoon(FOCUS_TARGETS.search);
    } else if (event.key === 'Escape' && state.streaming) {
      event.preventDefault();
      void state.stopAnswer();
    }
  };
  window.addEventListener('keydown', onKeyDown);
  return () => window.removeEventListener('keydown', onKeyDown);
}
