// One data folder for every entry point (the app, the CLI, serve): resolveDataDir.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { platformDataDir, resolveDataDir } from '../../electron/core/paths.js';

describe('data folder', () => {
  it('is the per-user config folder, ignoring an empty or relative XDG_CONFIG_HOME', () => {
    const home = homedir();
    expect(resolveDataDir(undefined, {}, 'linux', '/work')).toBe(join(home, '.config', 'ParamKB'));
    expect(resolveDataDir(undefined, { XDG_CONFIG_HOME: '' }, 'linux', '/work')).toBe(join(home, '.config', 'ParamKB'));
    expect(resolveDataDir(undefined, { XDG_CONFIG_HOME: 'relative/dir' }, 'linux', '/work')).toBe(join(home, '.config', 'ParamKB'));
    expect(resolveDataDir(undefined, { XDG_CONFIG_HOME: '/xdg' }, 'linux', '/work')).toBe('/xdg/ParamKB');
    expect(platformDataDir({ APPDATA: '' }, 'win32', '/home/u')).toBe(join('/home/u', 'AppData', 'Roaming', 'ParamKB'));
    expect(platformDataDir({}, 'darwin', '/Users/u')).toBe(join('/Users/u', 'Library', 'Application Support', 'ParamKB'));
  });

  it('takes a requested folder first, then PARAMKB_DATA (unless empty), always as an absolute path', () => {
    const env = { PARAMKB_DATA: 'kb', XDG_CONFIG_HOME: '/xdg' };
    expect(resolveDataDir('mine', env, 'linux', '/work')).toBe('/work/mine');
    expect(resolveDataDir(undefined, env, 'linux', '/work')).toBe('/work/kb');
    expect(resolveDataDir(undefined, { PARAMKB_DATA: '  ', XDG_CONFIG_HOME: '/xdg' }, 'linux', '/work')).toBe('/xdg/ParamKB');
    expect(resolveDataDir('', { PARAMKB_DATA: '/data/kb' }, 'linux', '/work')).toBe('/data/kb');
  });
});
