// Models: the loaded model and where it runs, opening a local GGUF, recommended downloads with
// progress, the embedding model for vector search (with its background embedding progress), and
// the runtime settings (GPU layers, threads, the encoding device).
import { useEffect, useState } from 'react';
import { isSoftwareRenderer } from '../../../electron/shared/devices.js';
import type { ComputeDevice, RecommendedModel } from '../../../electron/shared/types.js';
import { EncodingUnavailable } from '../components/EncodingUnavailable.js';
import { Icon } from '../components/Icon.js';
import { ProgressBar } from '../components/ProgressBar.js';
import { formatBytes, formatDuration, formatEncodingDevice, formatRunsOn, percent } from '../format.js';
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
        <EmbeddingModel />
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
        <p>ParamKB answers and learns your documents with a language model that runs on this computer.
          To try it in minutes, download SmolLM2 135M below (about 100 MB); for better answers, a 1B
          model such as Llama 3.2 1B Instruct. Or open a GGUF file you already have: an instruct model
          of the llama, qwen2, qwen3 or gemma3 architecture learns your documents; other models answer from
          the passages only.</p>
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
        <dt>Runs on</dt>
        <dd>
          {formatRunsOn(model)}
          {model.computeNote && <p className="hint">{model.computeNote}</p>}
        </dd>
        <dt>Threads</dt><dd>{model.threads === 0 ? 'automatic' : model.threads}</dd>
      </dl>
      {model.error && <p className="text-danger" role="alert">{model.error}</p>}
    </section>
  );
}

function OpenModel() {
  const openModel = useApp((s) => s.openModel);
  const error = useApp((s) => s.modelError);
  return (
    <section className="panel" aria-label="Open a model file">
      <h2 className="panel__title">Open a model file</h2>
      <ModelFileForm id="model" label="Path to a GGUF model file" placeholder="/path/to/model.gguf" submitLabel="Open model" primary open={openModel} error={error} />
    </section>
  );
}

/** A GGUF path field with Browse… (in the desktop app) and an open button. */
function ModelFileForm({ id, label, placeholder, submitLabel, primary, open, error }: {
  id: string; label: string; placeholder: string; submitLabel: string; primary?: boolean; open: (path: string) => Promise<void>; error: string | null;
}) {
  const shell = useApp((s) => s.shell);
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (target: string) => {
    setBusy(true);
    await open(target);
    setBusy(false);
  };
  const browse = async () => {
    const [chosen] = (await shell?.showOpenDialog('model')) ?? [];
    if (chosen) {
      setPath(chosen);
      await submit(chosen);
    }
  };
  return (
    <>
      <form className="row" onSubmit={(e) => { e.preventDefault(); void submit(path); }}>
        <input
          className="input grow mono"
          aria-label={label}
          placeholder={placeholder}
          value={path}
          onChange={(e) => setPath(e.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error ? `${id}-error` : undefined}
        />
        {shell && <button type="button" className="button" onClick={() => void browse()}>Browse…</button>}
        <button type="submit" className={primary ? 'button button--primary' : 'button'} disabled={!path.trim() || busy}>{busy ? 'Loading…' : submitLabel}</button>
      </form>
      {error && <p id={`${id}-error`} className="field-error" role="alert">{error}</p>}
    </>
  );
}

function Recommended() {
  const models = useApp((s) => s.recommended).filter((m) => m.kind !== 'embedding');
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

function EmbeddingModel() {
  const status = useApp((s) => s.embedding);
  const error = useApp((s) => s.embeddingError);
  const open = useApp((s) => s.openEmbeddingModel);
  const models = useApp((s) => s.recommended).filter((m) => m.kind === 'embedding');
  const model = status?.model;
  return (
    <section className="panel" aria-label="Embedding model">
      <h2 className="panel__title">{model ? <><span className="dot dot--ok" aria-hidden="true" /> Search by meaning: {model.name}</> : 'Search by meaning'}</h2>
      {model && status ? (
        <>
          <dl className="facts">
            <dt>File</dt><dd className="mono">{model.path}</dd>
            <dt>Size</dt><dd>{formatBytes(model.sizeBytes)}</dd>
            <dt>Dimensions</dt><dd>{model.dimensions}</dd>
          </dl>
          <div className="card__progress">
            <ProgressBar value={percent(status.embedded, status.total)} label="Passages embedded" />
            <span className="muted">
              {status.embedded === status.total ? `All ${status.total.toLocaleString()} passages embedded` : `${status.embedded.toLocaleString()} of ${status.total.toLocaleString()} passages embedded${status.running ? '…' : ''}`}
            </span>
          </div>
        </>
      ) : (
        <p className="muted">An embedding model finds passages worded differently from the question (synonyms, paraphrases); search then fuses it with keyword search. Without one, search uses keywords only.</p>
      )}
      {status?.error && <p className="text-danger" role="alert">{status.error}</p>}
      <ModelFileForm id="embedding-model" label="Path to an embedding GGUF file" placeholder="/path/to/embedding-model.gguf" submitLabel="Open embedding model" open={open} error={error} />
      {models.length > 0 && <ul className="cards">{models.map((m) => <RecommendedCard key={m.id} model={m} />)}</ul>}
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
      <p className="hint card__text">{modelCosts(model)}</p>
      {progress && progress.state !== 'cancelled' && (
        <div className="card__progress">
          <ProgressBar value={percent(progress.downloadedBytes, total)} label={`Download of ${model.name}`} />
          {progress.state === 'failed' ? <span className="text-danger" role="alert">{progress.error ?? 'The download failed; try again.'}</span> : (
            <span className="muted">{progress.state === 'done' ? 'Downloaded' : `${formatBytes(progress.downloadedBytes)} of ${formatBytes(total)}`}</span>
          )}
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

/** What a model costs a user: memory, and for chat models the time to learn their passages. */
function modelCosts(model: RecommendedModel): string {
  const memory = `Needs about ${formatBytes(model.memoryBytes)} of memory`;
  const seconds = model.encodingSecondsPerPassage;
  if (!seconds) return `${memory}.`;
  return `${memory}; learns about ${Math.round(3600 / seconds).toLocaleString()} passages an hour on a 2-core laptop (${formatDuration(seconds)} each).`;
}

/** A device in the Encoding device list: "AMD Radeon 780M (Vulkan0)", saying which are software renderers. */
function deviceLabel(device: ComputeDevice): string {
  const label = formatEncodingDevice(device);
  return isSoftwareRenderer(device.description) ? `${label}: a software renderer, slower than the CPU` : label;
}

function Runtime() {
  const settings = useApp((s) => s.settings);
  const update = useApp((s) => s.updateSettings);
  const notify = useApp((s) => s.notify);
  const devices = useApp((s) => s.encodingDevices);
  const loadDevices = useApp((s) => s.loadEncodingDevices);
  const running = useApp((s) => s.queue?.device ?? null);
  const [gpuLayers, setGpuLayers] = useState('auto');
  const [threads, setThreads] = useState('0');
  const [encoderThreads, setEncoderThreads] = useState('0');
  const [encoderDevice, setEncoderDevice] = useState('auto');
  useEffect(() => {
    if (!settings) return;
    setGpuLayers(String(settings.gpuLayers));
    setThreads(String(settings.threads));
    setEncoderThreads(String(settings.encoderThreads));
    setEncoderDevice(settings.encoderDevice);
  }, [settings]);
  useEffect(() => { void loadDevices(); }, [loadDevices]);
  if (!settings) return null;

  const layersValue = gpuLayers.trim() === 'auto' ? 'auto' : Number(gpuLayers);
  const count = (text: string) => text.trim() !== '' && Number.isInteger(Number(text)) && Number(text) >= 0;
  const valid = (layersValue === 'auto' || (Number.isInteger(layersValue) && layersValue >= 0)) && count(threads) && count(encoderThreads);
  // The CPU has its own entry; a saved device that is not found now stays shown as such.
  const others = (devices?.devices ?? []).filter((d) => d.type !== 'cpu');
  const missing = encoderDevice !== 'auto' && encoderDevice !== 'cpu' && !others.some((d) => d.name === encoderDevice);
  const save = async () => {
    if (await update({ gpuLayers: layersValue, threads: Number(threads), encoderThreads: Number(encoderThreads), encoderDevice })) {
      notify('Runtime settings saved; answers use them when a model is loaded, encoding from now on.', 'info');
    }
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
        <label htmlFor="encoder-threads">Encoder threads</label>
        <div>
          <input id="encoder-threads" className="input input--narrow" type="number" min={0} value={encoderThreads} onChange={(e) => setEncoderThreads(e.target.value)} />
          <p className="hint">Threads of background encoding; 0 uses the Threads above. Fewer keep the computer responsive while it learns.</p>
        </div>
        <label htmlFor="encoder-device">Encoding device</label>
        <div>
          <select id="encoder-device" className="input" value={encoderDevice} onChange={(e) => setEncoderDevice(e.target.value)}>
            <option value="auto">Automatic</option>
            <option value="cpu">CPU</option>
            {others.map((d) => <option key={d.name} value={d.name}>{deviceLabel(d)}</option>)}
            {missing && <option value={encoderDevice}>{devices ? `${encoderDevice} (not found on this computer)` : encoderDevice}</option>}
          </select>
          <p className="hint">Where encoding trains. Automatic takes the first GPU with room for the model, else the CPU; a software renderer such as llvmpipe is never picked.</p>
          {running && (
            <p className="hint" role="status" aria-label="Encoding device now">
              Encoding now runs on {formatEncodingDevice(running)}.{running.note && ` ${running.note}`}
            </p>
          )}
          {devices && others.length === 0 && devices.failures.length > 0 && <p className="hint">No GPU to choose: {devices.failures.join(' ')}</p>}
        </div>
        <div />
        <div><button type="submit" className="button button--primary" disabled={!valid}>Save runtime settings</button></div>
      </form>
    </section>
  );
}
