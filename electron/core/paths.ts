// Where a knowledge base lives. One function, resolveDataDir, decides it for every entry point
// (the desktop app, the CLI, `paramkb serve`), so they all open the same knowledge base.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export const APP_FOLDER_NAME = 'ParamKB';

/** A variable set to a non-blank value, else undefined (an empty variable counts as unset). */
function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

/**
 * The per-user folder of the platform: ~/.config/ParamKB on Linux ($XDG_CONFIG_HOME when it is
 * an absolute path, as the XDG spec asks: empty or relative values are ignored), ~/Library/
 * Application Support/ParamKB on macOS, %APPDATA%\ParamKB on Windows.
 */
export function platformDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  switch (platform) {
    case 'win32': return join(nonEmpty(env.APPDATA) ?? join(home, 'AppData', 'Roaming'), APP_FOLDER_NAME);
    case 'darwin': return join(home, 'Library', 'Application Support', APP_FOLDER_NAME);
    default: {
      const xdg = nonEmpty(env.XDG_CONFIG_HOME);
      return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.config'), APP_FOLDER_NAME);
    }
  }
}

/**
 * The knowledge base folder, as an absolute path: the one asked for (a --data flag), else
 * $PARAMKB_DATA, else the platform's per-user folder. Relative paths are taken from `cwd`.
 */
export function resolveDataDir(requested?: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, cwd = process.cwd()): string {
  const chosen = nonEmpty(requested) ?? nonEmpty(env.PARAMKB_DATA) ?? platformDataDir(env, platform);
  return resolve(cwd, chosen);
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
