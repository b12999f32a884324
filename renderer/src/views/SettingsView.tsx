// Settings: retrieval, answer mode, the recipe of new adapters, theme and the data folder.
import { useEffect, useState } from 'react';
import { ADAPTER_DEFAULTS } from '../../../electron/shared/adapterDefaults.js';
import { ANSWER_MODES, type AnswerMode, type EncodingPolicy, type Settings } from '../../../electron/shared/types.js';
import { useApp } from '../StoreContext.js';
import { MODE_INFO } from './ChatView.js';

type NumericKey = 'topK' | 'rank' | 'alpha' | 'learningRate' | 'epochs';

const NUMERIC_FIELDS: { key: NumericKey; label: string; hint: string; min: number; max: number; step: number | 'any'; integer: boolean }[] = [
  { key: 'topK', label: 'Passages per question (top-k)', hint: 'How many passages BM25 retrieves for each question. Default 3.', min: 1, max: 20, step: 1, integer: true },
  { key: 'rank', label: 'Adapter rank', hint: `LoRA rank of new adapters. Default ${ADAPTER_DEFAULTS.rank}.`, min: 1, max: 64, step: 1, integer: true },
  { key: 'alpha', label: 'Adapter alpha', hint: `LoRA scale of new adapters. Default ${ADAPTER_DEFAULTS.alpha}.`, min: 0.001, max: 4096, step: 'any', integer: false },
  { key: 'learningRate', label: 'Learning rate', hint: `Of adapter training. Default ${ADAPTER_DEFAULTS.learningRate}.`, min: 1e-7, max: 1, step: 'any', integer: false },
  { key: 'epochs', label: 'Epochs', hint: `Training passes over each passage’s examples. Default ${ADAPTER_DEFAULTS.epochs}.`, min: 1, max: 50, step: 1, integer: true },
];

function fieldError(field: (typeof NUMERIC_FIELDS)[number], text: string): string | null {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) return 'Enter a number.';
  if (field.integer && !Number.isInteger(value)) return 'Enter a whole number.';
  if (value < field.min || value > field.max) return `Between ${field.min} and ${field.max}.`;
  return null;
}

export function SettingsView() {
  const settings = useApp((s) => s.settings);
  const update = useApp((s) => s.updateSettings);
  const notify = useApp((s) => s.notify);
  const [draft, setDraft] = useState<Record<NumericKey, string> | null>(null);
  const [defaultMode, setDefaultMode] = useState<AnswerMode>('combine');

  useEffect(() => {
    if (!settings) return;
    setDraft(Object.fromEntries(NUMERIC_FIELDS.map((f) => [f.key, String(settings[f.key])])) as Record<NumericKey, string>);
    setDefaultMode(settings.defaultMode);
  }, [settings]);
  if (!settings || !draft) return null;

  const errors = Object.fromEntries(NUMERIC_FIELDS.map((f) => [f.key, fieldError(f, draft[f.key])])) as Record<NumericKey, string | null>;
  const valid = Object.values(errors).every((e) => e === null);
  const dirty = defaultMode !== settings.defaultMode || NUMERIC_FIELDS.some((f) => Number(draft[f.key]) !== settings[f.key]);
  const save = async () => {
    const patch: Partial<Settings> = { defaultMode };
    for (const f of NUMERIC_FIELDS) patch[f.key] = Number(draft[f.key]);
    if (await update(patch)) notify('Settings saved.', 'info');
  };

  return (
    <section className="screen settings" aria-label="Settings">
      <header className="screen__header"><h1 className="screen__title">Settings</h1></header>
      <div className="screen__body">
        <form className="panel form-grid" aria-label="Answering and adapters" onSubmit={(e) => { e.preventDefault(); void save(); }}>
          <h2 className="panel__title form-grid__full">Answering and adapters</h2>
          <label htmlFor="default-mode">Default answer mode</label>
          <div>
            <select id="default-mode" className="input input--narrow" value={defaultMode} onChange={(e) => setDefaultMode(e.target.value as AnswerMode)}>
              {ANSWER_MODES.map((m) => <option key={m} value={m}>{MODE_INFO[m].label}</option>)}
            </select>
            <p className="hint">{MODE_INFO[defaultMode].description}</p>
          </div>
          {NUMERIC_FIELDS.map((f) => (
            <NumberField key={f.key} field={f} value={draft[f.key]} error={errors[f.key]} onChange={(v) => setDraft({ ...draft, [f.key]: v })} />
          ))}
          <div />
          <div>
            <button type="submit" className="button button--primary" disabled={!valid || !dirty}>Save settings</button>
            <p className="hint">Rank, alpha, learning rate and epochs apply to adapters trained from now on; use Re-encode to retrain a document.</p>
          </div>
        </form>
        <EncodingPolicyPanel />
        <Appearance />
        <section className="panel" aria-label="Storage">
          <h2 className="panel__title">Storage</h2>
          <p>Your documents, adapters and chats are kept in this folder, on this computer only:</p>
          <p className="mono path-box" aria-label="Data folder">{settings.dataDir}</p>
        </section>
      </div>
    </section>
  );
}

function NumberField({ field, value, error, onChange }: {
  field: (typeof NUMERIC_FIELDS)[number]; value: string; error: string | null; onChange: (value: string) => void;
}) {
  const id = `setting-${field.key}`;
  return (
    <>
      <label htmlFor={id}>{field.label}</label>
      <div>
        <input id={id} className="input input--narrow" type="number" min={field.min} max={field.max} step={field.step}
          value={value} aria-invalid={error !== null} aria-describedby={`${id}-hint`} onChange={(e) => onChange(e.target.value)} />
        <p id={`${id}-hint`} className={error ? 'field-error' : 'hint'}>{error ?? field.hint}</p>
      </div>
    </>
  );
}

const POLICIES: { value: EncodingPolicy; label: string; hint: string }[] = [
  { value: 'all', label: 'All passages', hint: 'Every passage becomes an adapter, in the background.' },
  { value: 'on-demand', label: 'On demand', hint: 'Only the passages that your questions retrieve are encoded.' },
  { value: 'paused', label: 'Paused', hint: 'Nothing is encoded until you choose again.' },
];

function EncodingPolicyPanel() {
  const policy = useApp((s) => s.settings?.encodingPolicy ?? 'all');
  const update = useApp((s) => s.updateSettings);
  return (
    <section className="panel" aria-label="Encoding">
      <h2 className="panel__title">Encoding</h2>
      <div className="segmented" role="radiogroup" aria-label="Encode">
        {POLICIES.map((p) => (
          <button key={p.value} type="button" role="radio" aria-checked={policy === p.value}
            className={`segmented__option${policy === p.value ? ' segmented__option--on' : ''}`}
            onClick={() => void update({ encodingPolicy: p.value })}>
            {p.label}
          </button>
        ))}
      </div>
      <p className="hint">{POLICIES.find((p) => p.value === policy)?.hint}</p>
    </section>
  );
}

function Appearance() {
  const theme = useApp((s) => s.settings?.theme ?? 'system');
  const update = useApp((s) => s.updateSettings);
  const options: { value: Settings['theme']; label: string }[] = [
    { value: 'system', label: 'System' }, { value: 'light', label: 'Light' }, { value: 'dark', label: 'Dark' },
  ];
  return (
    <section className="panel" aria-label="Appearance">
      <h2 className="panel__title">Appearance</h2>
      <div className="segmented" role="radiogroup" aria-label="Theme">
        {options.map((o) => (
          <button key={o.value} type="button" role="radio" aria-checked={theme === o.value}
            className={`segmented__option${theme === o.value ? ' segmented__option--on' : ''}`}
            onClick={() => void update({ theme: o.value })}>
            {o.label}
          </button>
        ))}
      </div>
    </section>
  );
}
