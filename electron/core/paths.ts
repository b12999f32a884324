// Where a knowledge base lives by default: the same folder Electron's app.getPath('userData')
// gives the desktop app, so the CLI and the app share one knowledge base.
import { homedir } from 'node:os';
import { join } from 'node:path';

export const APP_FOLDER_NAME = 'ParamKB';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PARAMKB_DATA) return env.PARAMKB_DATA;
  switch (process.platform) {
    case 'win32': return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP_FOLDER_NAME);
    case 'darwin': return join(homedir(), 'Library', 'Application Support', APP_FOLDER_NAME);
    default: return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), APP_FOLDER_NAME);
  }
}

export function databasePath(dataDir: string): string {
  return join(dataDir, 'paramkb.sqlite');
}

export function adaptersDir(dataDir: string): string {
  return join(dataDir, 'adapters');
}

export function modelsDir(dataDir: string): string {
  return join(dataDir, 'models');
}
