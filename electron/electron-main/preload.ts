// The preload (DESIGN §6.3): exposes window.paramkb, one frozen object with one function per
// API method, `on` for events and `shell` for native dialogs; never ipcRenderer itself.
// The API travels over a MessagePort that main connects to the engine process; main sends a
// new one after an engine restart. Sandboxed preloads must be one CommonJS file, so this is
// bundled by preload.vite.config.mjs into dist/electron/electron-main/preload.cjs.
import { contextBridge, ipcRenderer } from 'electron';
import { API_METHODS } from '../shared/contract.js';
import { DESKTOP_CHANNELS, type DesktopBridge, type DesktopShell } from '../shared/desktop.js';
import { createApiClient, isRpcMessage, type RpcMessage, type RpcTransport } from '../shared/rpc.js';

/** The part of the DOM MessagePort used here (the Electron tsconfig has no DOM types). */
interface EnginePort {
  postMessage(message: RpcMessage): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

let enginePort: EnginePort | null = null;
const unsent: RpcMessage[] = [];
const handlers: ((message: RpcMessage) => void)[] = [];
const deliver = (message: RpcMessage) => handlers.forEach((handler) => handler(message));

const transport: RpcTransport = {
  send(message) {
    if (enginePort) enginePort.postMessage(message);
    else unsent.push(message);
  },
  onMessage: (handler) => void handlers.push(handler),
};

ipcRenderer.on(DESKTOP_CHANNELS.enginePort, (event) => {
  const [port] = event.ports as unknown as EnginePort[];
  if (!port) return;
  enginePort?.close();
  enginePort = port;
  port.onmessage = ({ data }) => {
    if (isRpcMessage(data) && data.type !== 'request') deliver(data);
  };
  for (const message of unsent.splice(0)) port.postMessage(message);
});
ipcRenderer.on(DESKTOP_CHANNELS.processCrashed, (_event, payload: unknown) => {
  // Until the restarted engine's port arrives, calls wait here instead of vanishing.
  enginePort?.close();
  enginePort = null;
  deliver({ type: 'event', event: 'processCrashed', payload });
});
ipcRenderer.send(DESKTOP_CHANNELS.requestEnginePort);

const client = createApiClient(transport);
const shell: DesktopShell = {
  showOpenDialog: (kind) => ipcRenderer.invoke(DESKTOP_CHANNELS.showOpenDialog, kind),
  showSaveDialog: (kind) => ipcRenderer.invoke(DESKTOP_CHANNELS.showSaveDialog, kind),
  openDocument: (documentId) => ipcRenderer.invoke(DESKTOP_CHANNELS.openDocument, documentId),
};
const methods = Object.fromEntries(API_METHODS.map((method) => [
  method,
  (...args: unknown[]) => (client[method] as (...a: unknown[]) => Promise<unknown>)(...args),
]));
const bridge = Object.freeze({ ...methods, on: client.on, shell: Object.freeze(shell) }) as DesktopBridge;

contextBridge.exposeInMainWorld('paramkb', bridge);
