// User settings, persisted in the database's settings table as JSON values over defaults.
import { ADAPTER_DEFAULTS } from '../shared/adapterDefaults.js';
import type { EncodingDevice, LastEncodingDevice, Settings } from '../shared/types.js';
import type { Db } from './database/database.js';

export const DEFAULT_SETTINGS: Omit<Settings, 'dataDir'> = {
  topK: 3,
  // Combine is the most accurate mode at every stage of encoding (it is context until a
  // retrieved passage has an adapter); auto answers like parametric once all are encoded,
  // well below combine on the world dev split (docs/results.md).
  defaultMode: 'combine',
  rank: ADAPTER_DEFAULTS.rank,
  alpha: ADAPTER_DEFAULTS.alpha,
  learningRate: ADAPTER_DEFAULTS.learningRate,
  epochs: ADAPTER_DEFAULTS.epochs,
  gpuLayers: 'auto',
  threads: 0,
  encoderThreads: 0,
  encoderDevice: 'auto',
  encodingPolicy: 'all',
  theme: 'system',
};

/** The encoder's CPU threads from the settings, or undefined to pick from the machine. */
export function encoderThreadsOf(settings: Pick<Settings, 'threads' | 'encoderThreads'>): number | undefined {
  return settings.encoderThreads || settings.threads || undefined;
}

export class SettingsStore {
  constructor(private readonly db: Db, private readonly dataDir: string) {}

  get(): Settings {
    const rows = this.db.prepare("SELECT key, value FROM settings WHERE key LIKE 'ui.%'").all() as { key: string; value: string }[];
    const stored: Record<string, unknown> = {};
    for (const r of rows) {
      try { stored[r.key.slice(3)] = JSON.parse(r.value); } catch { /* a damaged value falls back to its default */ }
    }
    const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const key of Object.keys(DEFAULT_SETTINGS)) if (key in stored) settings[key] = stored[key];
    return { ...(settings as Omit<Settings, 'dataDir'>), dataDir: this.dataDir };
  }

  /** Applies an already validated patch (see apiArgs.updateSettings). */
  update(patch: Partial<Settings>): Settings {
    const upsert = this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(patch)) {
        if (key === 'dataDir' || !(key in DEFAULT_SETTINGS)) continue;
        upsert.run(`ui.${key}`, JSON.stringify(value));
      }
    })();
    return this.get();
  }

  /** Internal values (e.g. the last opened model), outside the user-facing Settings. */
  getValue(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(`app.${key}`) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setValue(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(`app.${key}`, value);
  }

  /** The device encoding last trained on in this knowledge base (any process's encoder), or null. */
  lastEncodingDevice(): LastEncodingDevice | null {
    const raw = this.getValue('encodingDevice');
    if (raw === null) return null;
    try {
      const v = JSON.parse(raw) as Partial<LastEncodingDevice>;
      if (typeof v.name !== 'string' || typeof v.description !== 'string' || typeof v.gpu !== 'boolean' || typeof v.at !== 'string') return null;
      return { name: v.name, description: v.description, gpu: v.gpu, note: typeof v.note === 'string' ? v.note : null, at: v.at };
    } catch {
      return null; // a damaged value is as good as none
    }
  }

  setLastEncodingDevice(device: EncodingDevice, at: Date = new Date()): void {
    const value: LastEncodingDevice = { name: device.name, description: device.description, gpu: device.gpu, note: device.note, at: at.toISOString() };
    this.setValue('encodingDevice', JSON.stringify(value));
  }
}
