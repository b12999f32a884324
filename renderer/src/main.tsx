// Entry point: finds the API (Electron's preload, or the headless server's WebSocket named by
// the page URL), builds the store and renders the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { DesktopBridge } from '../../electron/shared/desktop.js';
import { createApiClient } from '../../electron/shared/rpc.js';
import { App } from './App.js';
import { StoreProvider } from './StoreContext.js';
import { createAppStore } from './store.js';
import { createWebSocketTransport, rpcUrlFromPage } from './webSocketTransport.js';
import './styles.css';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    paramkb?: DesktopBridge;
  }
}

function connect() {
  const bridge = window.paramkb;
  if (bridge) {
    const store = createAppStore(bridge, bridge.shell);
    store.getState().setConnection('open');
    return store;
  }
  const url = rpcUrlFromPage(window.location);
  if (!url) return null;
  const transport = createWebSocketTransport(url);
  const store = createAppStore(createApiClient(transport));
  transport.onStateChange((state) => store.getState().setConnection(state));
  return store;
}

const root = createRoot(document.getElementById('root')!);
const store = connect();
if (store) {
  void store.getState().init();
  root.render(<StrictMode><StoreProvider store={store}><App /></StoreProvider></StrictMode>);
} else {
  root.render(
    <div className="error-panel" role="alert">
      <h2>Open ParamKB from its own link</h2>
      <p>This page needs the address that <code>paramkb serve</code> printed, including its <code>?token=…</code> part.</p>
    </div>,
  );
}
