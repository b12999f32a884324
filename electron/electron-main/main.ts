// Electron main (DESIGN §2): windows, dialogs and routing, nothing heavy. The engine runs in a
// utility process that the renderer reaches through a MessagePort; main only checks who asks.
// Secure defaults: sandboxed, context-isolated renderer without Node; the app is served from
// its own app:// scheme with a strict CSP; no remote content, navigation, new windows,
// webviews or permissions.
import { app, BrowserWindow, dialog, ipcMain, nativeTheme, net, protocol, session, shell, type IpcMainEvent, type IpcMainInvokeEvent, type WebFrameMain } from 'electron';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PACK_FILE_EXTENSION } from '../shared/contract.js';
import { resolveDataDir } from '../core/paths.js';
import { DESKTOP_CHANNELS, OPEN_DIALOG_KINDS, SAVE_DIALOG_KINDS, type OpenDialogKind, type SaveDialogKind } from '../shared/desktop.js';
import { EngineHost } from './engineHost.js';

const APP_SCHEME = 'app';
const APP_HOST = 'paramkb';
const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;
const here = fileURLToPath(new URL('.', import.meta.url));
const rendererDir = join(app.getAppPath(), 'dist', 'renderer');

const DIALOGS: Record<OpenDialogKind, Electron.OpenDialogOptions> = {
  documents: {
    title: 'Add documents',
    properties: ['openFile', 'multiSelections'],
    filters: [{ name: 'Documents', extensions: ['txt', 'md', 'markdown', 'html', 'htm', 'pdf', 'docx'] }, { name: 'All files', extensions: ['*'] }],
  },
  folder: { title: 'Add a folder', properties: ['openDirectory'] },
  model: { title: 'Open a GGUF model', properties: ['openFile'], filters: [{ name: 'GGUF models', extensions: ['gguf'] }] },
  pack: { title: 'Import a knowledge pack', properties: ['openFile'], filters: [{ name: 'Knowledge packs', extensions: [PACK_FILE_EXTENSION.slice(1)] }] },
};

const SAVE_DIALOGS: Record<SaveDialogKind, Electron.SaveDialogOptions> = {
  pack: {
    title: 'Export a knowledge pack', defaultPath: `knowledge${PACK_FILE_EXTENSION}`,
    filters: [{ name: 'Knowledge packs', extensions: [PACK_FILE_EXTENSION.slice(1)] }], properties: ['showOverwriteConfirmation'],
  },
};

// A second launch focuses the running app instead of opening the database twice.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
  const engine = new EngineHost({
    entryPoint: join(here, 'engineProcess.js'),
    // The same folder as the CLI and `paramkb serve` (PARAMKB_DATA, else the per-user folder).
    dataDir: resolveDataDir(),
    modelPath: process.env.PARAMKB_MODEL ?? null,
    // electron-builder's extraResources put a team's packs here (docs/teams.md).
    bundledPacksDir: app.isPackaged ? join(process.resourcesPath, 'packs') : null,
  });
  let window: BrowserWindow | null = null;

  app.on('second-instance', () => {
    if (!window) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });

  app.on('web-contents-created', (_event, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-navigate', (event, url) => { if (!isAppUrl(url)) event.preventDefault(); });
    contents.on('will-redirect', (event, url) => { if (!isAppUrl(url)) event.preventDefault(); });
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  app.whenReady().then(() => {
    serveRenderer();
    lockDownSession();
    registerIpc(engine, () => window);
    engine.start();
    window = createWindow();
    window.on('closed', () => { window = null; });
    app.on('activate', () => {
      if (!window) {
        window = createWindow();
        window.on('closed', () => { window = null; });
      }
    });
  }).catch((error: unknown) => {
    dialog.showErrorBox('ParamKB could not start', String(error));
    app.exit(1);
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  // Quit waits for the engine to close, so the current encoding job checkpoints.
  let engineClosed = false;
  app.on('before-quit', (event) => {
    if (engineClosed) return;
    event.preventDefault();
    void engine.shutdown().finally(() => {
      engineClosed = true;
      app.quit();
    });
  });
}

function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

/** Only the top frame of our own page may use the desktop channels. */
function isTrustedSender(frame: WebFrameMain | null): boolean {
  return frame !== null && frame.parent === null && isAppUrl(frame.url);
}

/** app://paramkb/<path> -> a file of dist/renderer, never outside it. */
function serveRenderer(): void {
  protocol.handle(APP_SCHEME, (request) => {
    const url = new URL(request.url);
    const file = resolve(rendererDir, `.${decodeURIComponent(url.pathname)}`);
    if (url.host !== APP_HOST || (file !== rendererDir && !file.startsWith(rendererDir + sep))) {
      return new Response('Not found', { status: 404 });
    }
    return net.fetch(pathToFileURL(file).toString());
  });
}

/** No permission prompts (camera, notifications, ...) and no request leaves the machine. */
function lockDownSession(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] }, (_details, callback) => {
    callback({ cancel: true });
  });
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 720,
    minHeight: 480,
    title: 'ParamKB',
    show: false,
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#15171c' : '#f7f7f8',
    icon: join(app.getAppPath(), 'resources', 'icon.png'),
    webPreferences: {
      preload: join(here, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
      devTools: !app.isPackaged,
    },
  });
  window.once('ready-to-show', () => window.show());
  // The preload asks again after every reload; a crashed renderer is simply reloaded.
  window.webContents.on('render-process-gone', (_event, details) => {
    if (details.reason !== 'clean-exit') window.webContents.reload();
  });
  void window.loadURL(APP_URL);
  return window;
}

function registerIpc(engine: EngineHost, currentWindow: () => BrowserWindow | null): void {
  ipcMain.on(DESKTOP_CHANNELS.requestEnginePort, (event: IpcMainEvent) => {
    if (isTrustedSender(event.senderFrame)) engine.connect(event.sender);
  });

  ipcMain.handle(DESKTOP_CHANNELS.showOpenDialog, async (event: IpcMainInvokeEvent, kind: unknown) => {
    if (!isTrustedSender(event.senderFrame)) throw new Error('Refused: not the ParamKB window.');
    if (!OPEN_DIALOG_KINDS.includes(kind as OpenDialogKind)) throw new Error('showOpenDialog: unknown dialog kind.');
    const window = currentWindow();
    const options = DIALOGS[kind as OpenDialogKind];
    const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
    return result.canceled ? [] : result.filePaths;
  });

  ipcMain.handle(DESKTOP_CHANNELS.showSaveDialog, async (event: IpcMainInvokeEvent, kind: unknown) => {
    if (!isTrustedSender(event.senderFrame)) throw new Error('Refused: not the ParamKB window.');
    if (!SAVE_DIALOG_KINDS.includes(kind as SaveDialogKind)) throw new Error('showSaveDialog: unknown dialog kind.');
    const window = currentWindow();
    const options = SAVE_DIALOGS[kind as SaveDialogKind];
    const result = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
    if (result.canceled || !result.filePath) return null;
    // Some platforms' dialogs do not add the extension the filter names.
    return result.filePath.endsWith(PACK_FILE_EXTENSION) ? result.filePath : `${result.filePath}${PACK_FILE_EXTENSION}`;
  });

  // Opens only the file of an imported document, looked up by id in the engine: the renderer
  // never names a path for main to open (shell.openPath would run executables).
  ipcMain.handle(DESKTOP_CHANNELS.openDocument, async (event: IpcMainInvokeEvent, documentId: unknown) => {
    if (!isTrustedSender(event.senderFrame)) throw new Error('Refused: not the ParamKB window.');
    if (typeof documentId !== 'number' || !Number.isSafeInteger(documentId) || documentId < 0) throw new Error('openDocument: expected a document id.');
    const document = await engine.api().getDocument(documentId);
    if (!document.path) throw new Error(`${document.title} was uploaded, so it has no file on disk to open.`);
    const failure = await shell.openPath(document.path);
    if (failure) throw new Error(`Could not open ${document.path}: ${failure}`);
  });
}
