// Settings persist as JSON values over the defaults; a damaged or unknown value never breaks
// the app, and internal values stay apart from the user's settings.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DEFAULT_SETTINGS, encoderThreadsOf, SettingsStore } from '../../electron/core/settingsStore.js';

let db: Db;
let store: SettingsStore;

beforeEach(() => {
  db = openDatabase(':memory:');
  store = new SettingsStore(db, '/kb');
});
afterEach(() => db.close());

describe('settings store', () => {
  it('gives the defaults and the data folder until something is saved', () => {
    expect(store.get()).toEqual({ ...DEFAULT_SETTINGS, dataDir: '/kb' });
  });

  it('saves a patch over the defaults, and ignores the data folder and unknown keys', () => {
    const saved = store.update({ topK: 5, theme: 'dark', dataDir: '/elsewhere', ...({ nonsense: 1 } as object) });
    expect(saved).toMatchObject({ topK: 5, theme: 'dark', dataDir: '/kb', epochs: DEFAULT_SETTINGS.epochs });
    expect(new SettingsStore(db, '/kb').get()).toEqual(saved);
    expect(db.prepare("SELECT key FROM settings WHERE key LIKE 'ui.%' ORDER BY key").pluck().all()).toEqual(['ui.theme', 'ui.topK']);
  });

  it('falls back to the default for a damaged stored value', () => {
    store.update({ epochs: 7, topK: 4 });
    db.prepare("UPDATE settings SET value = '{not json' WHERE key = 'ui.epochs'").run();
    expect(store.get()).toMatchObject({ epochs: DEFAULT_SETTINGS.epochs, topK: 4 });
  });

  it('keeps internal values apart from the settings', () => {
    expect(store.getValue('modelPath')).toBeNull();
    store.setValue('modelPath', '/models/a.gguf');
    store.setValue('modelPath', '/models/b.gguf');
    expect(store.getValue('modelPath')).toBe('/models/b.gguf');
    expect(store.get()).not.toHaveProperty('modelPath');
  });

  it('trains on the automatic device until told otherwise, and keeps the choice', () => {
    expect(DEFAULT_SETTINGS.encoderDevice).toBe('auto');
    expect(store.get().encoderDevice).toBe('auto');
    store.update({ encoderDevice: 'Vulkan0' });
    expect(new SettingsStore(db, '/kb').get().encoderDevice).toBe('Vulkan0');
  });

  it('keeps the device encoding last ran on, outside the settings; a damaged record is none', () => {
    expect(store.lastEncodingDevice()).toBeNull();
    const at = new Date(Date.UTC(2026, 0, 31, 14, 5));
    store.setLastEncodingDevice({ name: 'CUDA0', description: 'NVIDIA GeForce RTX 4070', gpu: true, note: null }, at);
    store.setLastEncodingDevice({ name: 'CPU', description: 'AMD Ryzen 7 7840U', gpu: false, note: 'Encoding moved to the CPU after CUDA0 failed: out of memory' }, at);
    expect(new SettingsStore(db, '/kb').lastEncodingDevice()).toEqual({
      name: 'CPU', description: 'AMD Ryzen 7 7840U', gpu: false, note: 'Encoding moved to the CPU after CUDA0 failed: out of memory', at: '2026-01-31T14:05:00.000Z',
    });
    expect(store.get()).not.toHaveProperty('encodingDevice');
    store.setValue('encodingDevice', '{"name": 3}');
    expect(store.lastEncodingDevice()).toBeNull();
    store.setValue('encodingDevice', '{not json');
    expect(store.lastEncodingDevice()).toBeNull();
  });

  it('gives the encoder its own threads, else the answering threads, else the machine\'s choice', () => {
    expect(encoderThreadsOf({ threads: 4, encoderThreads: 1 })).toBe(1);
    expect(encoderThreadsOf({ threads: 4, encoderThreads: 0 })).toBe(4);
    expect(encoderThreadsOf({ threads: 0, encoderThreads: 0 })).toBeUndefined();
  });
});
