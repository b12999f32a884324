// What the Electron preload adds to the contract: the few desktop features a browser page does
// not have. The preload exposes `window.paramkb` as a DesktopBridge; the headless server has no
// shell, so the renderer treats `shell` as optional and falls back to browser inputs.
import type { ApiClient } from './rpc.js';

export type OpenDialogKind = 'documents' | 'folder' | 'model' | 'pack';
export const OPEN_DIALOG_KINDS: readonly OpenDialogKind[] = ['documents', 'folder', 'model', 'pack'];

export type SaveDialogKind = 'pack';
export const SAVE_DIALOG_KINDS: readonly SaveDialogKind[] = ['pack'];

export interface DesktopShell {
  /** Shows the native open dialog; resolves to the chosen absolute paths, [] when cancelled. */
  showOpenDialog(kind: OpenDialogKind): Promise<string[]>;
  /** Shows the native save dialog; resolves to the chosen absolute path, null when cancelled. */
  showSaveDialog(kind: SaveDialogKind): Promise<string | null>;
  /** Opens an imported document's file with the system's default application. */
  openDocument(documentId: number): Promise<void>;
}

export type DesktopBridge = ApiClient & { shell: DesktopShell };

/** IPC channel names between the preload and Electron main. */
export const DESKTOP_CHANNELS = {
  /** preload -> main (send): asks for a MessagePort connected to the engine. */
  requestEnginePort: 'paramkb:request-engine-port',
  /** main -> preload (postMessage with one port): a port to the engine, again after a restart. */
  enginePort: 'paramkb:engine-port',
  /** main -> preload: a ParamKbEvents['processCrashed'] payload. */
  processCrashed: 'paramkb:process-crashed',
  /** preload -> main (invoke): DesktopShell.showOpenDialog. */
  showOpenDialog: 'paramkb:show-open-dialog',
  /** preload -> main (invoke): DesktopShell.showSaveDialog. */
  showSaveDialog: 'paramkb:show-save-dialog',
  /** preload -> main (invoke): DesktopShell.openDocument. */
  openDocument: 'paramkb:open-document',
} as const;
