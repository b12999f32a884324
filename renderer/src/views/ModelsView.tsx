// Models: the loaded model and where it runs, opening a local GGUF, recommended downloads with
// progress, and the runtime settings (GPU layers, threads).
import { useEffect, useState } from 'react';
import type { RecommendedModel } from '../../../electron/shared/types.js';
import { EncodingUnavailable } from '../components/EncodingUnavailable.js';
import { Icon } from '../components/Icon.js';
import { ProgressBar } from '../components/ProgressBar.js';
import { formatBytes, percent } from '../format.js';
import { useApp } from '../StoreContext.js';

export function ModelsView() {
  return (
    <section className="screen models" aria-label="Models">
      <header className="screen__header">
        <div>
          <h1 className="screen__title">Models</h1>
          <p className="screen__subtitle">Everything runs on this computer: choose the model that answers and learns your documents.</p>
        </div>
      </header>
      <div className="screen__body">
        <CurrentModel />
        <EncodingUnavailable />
        <OpenModel />
        <Recommended />
        <Runtime />
      </div>
    </section>
  );
}

function CurrentModel() {
  const model = useApp((s) => s.model);
  if (!model?.loaded) {
    return (
      <section className="panel empty" aria-label="Current model">
        <h2>No model loaded</h2>
        <p>Open a GGUF model file you already have, or download one of the recommended models below.
          Small instruct models (1–2 billion parameters, Q4_K_M) work well on most laptops.</p>
        {model?.error && <p className="text-danger" role="alert">{model.error}</p>}
      </section>
    );
  }
  return (
    <section className="panel" aria-label="Current model">
      <h2 className="panel__title"><span className="dot dot--ok" aria-hidden="true" /> {model.name}</h2>
      <dl className="facts">
        <dt>File</dt><dd className="mono">{model.path}</dd>
        <dt>Architecture</dt><dd>{model.architecture ?? '—'}</dd>
        <dt>Size</dt><dd>{formatBytes(model.sizeBytes)}</dd>
        <dt>Context</dt><dd>{model.contextSize ? `${model.contextSize.toLocaleString()} tokens` : '—'}</dd>
        <dt>Runs on</dt><dd>{model.gpu ? `GPU (${model.gpu}), ${model.gpuLayers === 'auto' ? 'automatic' : model.gpuLayers} layers offloaded` : 'CPU'}</dd>
        <dt>Threads</dt><dd>{model.threads === 0 ? 'automatic' : model.threads}</dd>
      </dl>
      {model.error && <p className="text-danger" role="alert">{model.error}</p>}
    </section>
  );
}

function OpenModel() {
  const shell = useApp((s) => s.shell);
  const openModel = useApp((s) => s.openModel);
  const error = useApp((s) => s.modelError);
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const open = async (target: string) => {
    setBusy(true);
    await openModel(target);
    setBusy(false);
  };
  const browse = async () => {
    const [chosen] = (await shell?.showOpenDialog('model')) ?? [];
    if (chosen) {
      setPath(chosen);
      await open(chosen);
    }
  };
  return (
    <section className="panel" aria-label="Open a model file">
      <h2 className="panel__title">Open a model file</h2>
      <form className="row" onSubmit={(e) => { e.preventDefault(); void open(path); }}>
        <input
          className="input grow mono"
          aria-label="Path to a GGUF model file"
          placeholder="/path/to/model.gguf"
          value={path}
          onChange={(e) => setPath(e.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error ? 'model-error' : undefined}
        />
        {shell && <button type="button" className="button" onClick={() => void browse()}>Browse…</button>}
        <button type="submit" className="button button--primary" disabled={!path.trim() || busy}>{busy ? 'Loading…' : 'Open model'}</button>
      </form>
      {error && <p id="model-error" className="field-error" role="alert">{error}</p>}
    </section>
  );
}

function Recommended() {
  const models = useApp((s) => s.recommended);
  if (models.length === 0) return null;
  return (
    <section className="panel" aria-label="Recommended models">
      <h2 className="panel__title">Download a recommended model</h2>
      <ul className="cards">
        {models.map((m) => <RecommendedCard key={m.id} model={m} />)}
      </ul>
    </section>
  );
}

function RecommendedCard({ model }: { model: RecommendedModel }) {
  const progress = useApp((s) => s.downloads[model.id]);
  const download = useApp((s) => s.downloadModel);
  const cancel = useApp((s) => s.cancelDownload);
  const downloading = progress?.state === 'downloading';
  const total = progress?.totalBytes || model.sizeBytes;
  return (
    <li className="card" aria-label={model.name}>
      <div className="card__head">
        <strong>{model.name}</strong>
        <span className="muted">{formatBytes(model.sizeBytes)}</span>
      </div>
      <p className="muted card__text">{model.description}</p>
      {progress && progress.state !== 'cancelled' && (
        <div className="card__progress">
          <ProgressBar value={percent(progress.downloadedBytes, total)} label={`Download of ${model.name}`} />
          <span className="muted">
            {progress.state === 'done' ? 'Downloaded' : progress.state === 'failed' ? `Failed: ${progress.error ?? 'unknown error'}`
              : `${formatBytes(progress.downloadedBytes)} of ${formatBytes(total)}`}
          </span>
        </div>
      )}
      <div className="row">
        {downloading ? (
          <button className="button button--small" onClick={() => void cancel(model.id)}>Cancel</button>
        ) : progress?.state !== 'done' && (
          <button className="button button--small" onClick={() => void download(model.id)}>
            <Icon name="download" size={14} /> {progress?.state === 'failed' || progress?.state === 'cancelled' ? 'Resume download' : 'Download'}
          </button>
        )}
      </div>
    </li>
  );
}

function Runtime() {
  const settings = useApp((s) => s.settings);
  const update = useApp((s) => s.updateSettings);
  const notify = useApp((s) => s.notify);
  const [gpuLayers, setGpuLayers] = useState('auto');
  const [threads, setThreads] = useState('0');
  useEffect(() => {
    if (!settings) return;
    setGpuLayers(String(settings.gpuLayers));
    setThreads(String(settings.threads));
  }, [settings]);
  if (!settings) return null;

  const layersValue = gpuLayers.trim() === 'auto' ? 'auto' : Number(gpuLayers);
  const valid = (layersValue === 'auto' || (Number.isInteger(layersValue) && layersValue >= 0)) && Number.isInteger(Number(threads)) && Number(threads) >= 0;
  const save = async () => {
    if (await update({ gpuLayers: layersValue, threads: Number(threads) })) notify('Runtime settings saved; they apply when a model is loaded.', 'info');
  };
  return (
    <section className="panel" aria-label="Runtime">
      <h2 className="panel__title">Runtime</h2>
      <form className="form-grid" onSubmit={(e) => { e.preventDefault(); void save(); }}>
        <label htmlFor="gpu-layers">GPU layers</label>
        <div>
          <input id="gpu-layers" className="input input--narrow" value={gpuLayers} onChange={(e) => setGpuLayers(e.target.value)} />
          <p className="hint">“auto” offloads as many layers as fit in GPU memory; 0 runs on the CPU only.</p>
        </div>
        <label htmlFor="threads">Threads</label>
        <div>
          <input id="threads" className="input input--narrow" type="number" min={0} value={threads} onChange={(e) => setThreads(e.target.value)} />
          <p className="hint">0 picks a number from this computer’s cores.</p>
        </div>
        <div />
        <div><button type="submit" className="button button--primary" disabled={!valid}>Save runtime settings</button></div>
      </form>
    </section>
  );
}
