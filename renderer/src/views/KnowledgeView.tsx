// Knowledge: import (native dialogs in Electron; file inputs, drag and drop or a path box in a
// browser), the encoding queue, knowledge packs (export and import), search, and the documents
// with their status.
import { useRef, useState, type DragEvent } from 'react';
import type { DocumentSummary, SearchHit } from '../../../electron/shared/types.js';
import { ConfirmButton } from '../components/ConfirmButton.js';
import { EncodingUnavailable } from '../components/EncodingUnavailable.js';
import { Icon } from '../components/Icon.js';
import { ProgressBar } from '../components/ProgressBar.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { FOCUS_TARGETS } from '../focusTargets.js';
import { formatBytes, formatDuration, formatEncodingDevice, percent } from '../format.js';
import { useApp } from '../StoreContext.js';

export function KnowledgeView() {
  const documents = useApp((s) => s.documents);
  const passages = documents.reduce((n, d) => n + d.passageCount, 0);
  const encoded = documents.reduce((n, d) => n + d.encodedCount, 0);
  return (
    <section className="screen knowledge" aria-label="Knowledge">
      <header className="screen__header">
        <div>
          <h1 className="screen__title">Knowledge</h1>
          <p className="screen__subtitle">
            {documents.length} document{documents.length === 1 ? '' : 's'} · {passages} passage{passages === 1 ? '' : 's'} ·{' '}
            {percent(encoded, passages)}% learned as adapters
          </p>
        </div>
      </header>
      <div className="screen__body">
        <ImportPanel />
        <EncodingChoice />
        <ImportProblems />
        <EncodingUnavailable />
        <QueuePanel />
        <PackPanel />
        <SearchPanel />
        <DocumentList documents={documents} />
      </div>
    </section>
  );
}

function ImportPanel() {
  const shell = useApp((s) => s.shell);
  const importPaths = useApp((s) => s.importPaths);
  const importFiles = useApp((s) => s.importFiles);
  const importing = useApp((s) => s.importing);
  const lastImport = useApp((s) => s.lastImport);
  const [path, setPath] = useState('');
  const [dragging, setDragging] = useState(false);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const choose = async (kind: 'documents' | 'folder') => {
    if (shell) await importPaths(await shell.showOpenDialog(kind));
    else (kind === 'documents' ? filesInput : folderInput).current?.click();
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void importFiles(Array.from(event.dataTransfer.files));
  };

  return (
    <section
      className={`panel dropzone${dragging ? ' dropzone--over' : ''}`}
      aria-label="Import documents"
      onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <div className="dropzone__intro">
        <Icon name="upload" size={28} />
        <div className="grow">
          <h2 className="panel__title">Add documents</h2>
          <p className="muted">Drop files here, or choose files or a folder. Text, Markdown, HTML, PDF and Word documents.</p>
        </div>
        <button className="button" onClick={() => void choose('documents')}><Icon name="file" /> Add files…</button>
        <button className="button" onClick={() => void choose('folder')}><Icon name="folder" /> Add folder…</button>
      </div>
      <input ref={filesInput} type="file" multiple hidden aria-label="Files to import"
        onChange={(e) => { void importFiles(Array.from(e.target.files ?? [])); e.target.value = ''; }} />
      <input ref={folderInput} type="file" multiple hidden aria-label="Folder to import"
        {...{ webkitdirectory: '' }}
        onChange={(e) => { void importFiles(Array.from(e.target.files ?? [])); e.target.value = ''; }} />
      <form className="row" onSubmit={(e) => { e.preventDefault(); void importPaths([path]); setPath(''); }}>
        <input
          className="input grow"
          aria-label="Path to a file or folder"
          placeholder="…or type the path of a file or folder on this computer, e.g. /home/me/notes"
          value={path}
          onChange={(e) => setPath(e.target.value)}
        />
        <button className="button button--primary" type="submit" disabled={!path.trim() || importing !== null}>Import</button>
      </form>
      {importing && (
        <div className="import-status" role="status">
          <ProgressBar value={percent(importing.done, importing.total)} label="Import progress" />
          <span className="muted">Importing {importing.currentPath} ({importing.done}/{importing.total})</span>
        </div>
      )}
      {lastImport && !importing && (
        <div className={`import-report${lastImport.failed.length + lastImport.skipped.length > 0 ? ' import-report--partial' : ''}`} role="status" aria-label="Import result">
          Added {lastImport.added}, updated {lastImport.updated}, unchanged {lastImport.unchanged} · {lastImport.passages} passages
          {lastImport.failed.length > 0 && <> · <strong>{lastImport.failed.length} failed</strong></>}
          {lastImport.skipped.length > 0 && <> · {lastImport.skipped.length} skipped</>}
        </div>
      )}
    </section>
  );
}

/** After a large import: what encoding it costs, and the choice of what to encode. */
function EncodingChoice() {
  const estimate = useApp((s) => s.encodingChoice);
  const choose = useApp((s) => s.chooseEncoding);
  if (!estimate) return null;
  const rate = `${formatDuration(estimate.secondsPerPassage)} per passage, ${estimate.measured ? 'measured on this model' : 'a rough guess for a model of this size until the first passages are done'}`;
  return (
    <section className="panel encoding-choice" aria-label="Encode the new passages?">
      <h2 className="panel__title">Encode {estimate.passages.toLocaleString()} new passages?</h2>
      <p>
        Turning them all into adapters will take about <strong>{formatDuration(estimate.seconds)}</strong> of this computer’s time ({rate}).
        They are searchable, and answer questions from their text, already.
      </p>
      <div className="row">
        <button className="button button--primary" onClick={() => void choose('all')}>Encode all</button>
        <button className="button" onClick={() => void choose('on-demand')}>Encode on demand</button>
        <button className="button" onClick={() => void choose('paused')}>Not now</button>
      </div>
      <p className="hint">On demand encodes only the passages that your questions retrieve. Not now pauses encoding; resume it in the queue below or in Settings.</p>
    </section>
  );
}

/** The files not imported, with the reason for each, until the user dismisses them. */
function ImportProblems() {
  const failures = useApp((s) => s.importFailures);
  const dismiss = useApp((s) => s.dismissImportFailures);
  if (!failures || failures.total === 0) return null;
  const more = failures.total - failures.items.length;
  return (
    <section className="panel import-problems" aria-label="Files not imported">
      <div className="row row--spread">
        <h2 className="panel__title">{failures.total} file{failures.total === 1 ? ' was' : 's were'} not imported</h2>
        <button className="button button--small" onClick={() => void dismiss()}>Dismiss</button>
      </div>
      <ul className="import-problems__list">
        {failures.items.map((f) => <li key={f.id}><strong className="mono">{f.path}</strong>: {f.reason}</li>)}
      </ul>
      {more > 0 && <p className="muted">…and {more} more.</p>}
    </section>
  );
}

function QueuePanel() {
  const queue = useApp((s) => s.queue);
  const setPaused = useApp((s) => s.setEncodingPaused);
  // Where encoding cannot run, EncodingUnavailable says so instead of a queue that never moves.
  if (!queue || queue.total === 0 || !queue.availability.available) return null;
  const value = percent(queue.done, queue.total);
  const active = queue.queued + queue.running > 0;
  return (
    <section className="panel queue" aria-label="Encoding queue">
      <div className="row row--spread">
        <h2 className="panel__title">Encoding queue</h2>
        <button className="button button--small" onClick={() => void setPaused(!queue.paused)} disabled={!active && !queue.paused}>
          <Icon name={queue.paused ? 'play' : 'pause'} size={14} /> {queue.paused ? 'Resume' : 'Pause'}
        </button>
      </div>
      <ProgressBar value={value} label="Encoding progress" />
      <p className="queue__facts">
        <span>{queue.done} of {queue.total} passages encoded ({value}%)</span>
        {queue.failed > 0 && <span className="text-danger">{queue.failed} failed</span>}
        {queue.secondsPerPassage !== null && <span>{formatDuration(queue.secondsPerPassage)} per passage</span>}
        {queue.device && <span>On {formatEncodingDevice(queue.device)}</span>}
        {queue.paused ? <span>Paused</span> : active && (
          <span>{queue.etaSeconds === null ? 'Time left: known once the first passage is done' : `About ${formatDuration(queue.etaSeconds)} left`}</span>
        )}
      </p>
      {queue.blocked && <p className="queue__blocked" role="status">{queue.blocked}</p>}
      {queue.device?.note && <p className="muted queue__note">{queue.device.note}</p>}
      {queue.current && !queue.paused && (
        <p className="muted queue__current">
          Now: {queue.current.documentTitle}, passage {queue.current.position + 1} — {queue.current.step} ({Math.round(queue.current.progress * 100)}%)
        </p>
      )}
    </section>
  );
}

function PackPanel() {
  const shell = useApp((s) => s.shell);
  const work = useApp((s) => s.packWork);
  const last = useApp((s) => s.lastPack);
  const error = useApp((s) => s.packError);
  const exportPack = useApp((s) => s.exportPack);
  const importPack = useApp((s) => s.importPack);
  const hasDocuments = useApp((s) => s.documents.length > 0);
  const [exportPath, setExportPath] = useState('');
  const [importPath, setImportPath] = useState('');

  const exportWithDialog = async () => {
    const path = await shell?.showSaveDialog('pack');
    if (path) await exportPack(path);
  };
  const importWithDialog = async () => {
    const [path] = (await shell?.showOpenDialog('pack')) ?? [];
    if (path) await importPack(path);
  };
  const busy = work !== null;
  return (
    <section className="panel" aria-label="Knowledge packs">
      <div className="row row--spread">
        <h2 className="panel__title">Knowledge packs</h2>
        {shell && (
          <div className="row">
            <button className="button" onClick={() => void exportWithDialog()} disabled={busy || !hasDocuments}><Icon name="download" /> Export pack…</button>
            <button className="button" onClick={() => void importWithDialog()} disabled={busy}><Icon name="upload" /> Import pack…</button>
          </div>
        )}
      </div>
      <p className="muted">One file with documents, their passages and what the model learned from them, for the same model on another computer. Importing adds only what is not here yet.</p>
      {!shell && (
        <>
          <form className="row" onSubmit={(e) => { e.preventDefault(); void exportPack(exportPath); }}>
            <input className="input grow" aria-label="Path of the pack to write" placeholder="Export to, e.g. /home/me/handbook.paramkb"
              value={exportPath} onChange={(e) => setExportPath(e.target.value)} />
            <button className="button" type="submit" disabled={busy || !hasDocuments || !exportPath.trim()}>Export pack</button>
          </form>
          <form className="row" onSubmit={(e) => { e.preventDefault(); void importPack(importPath); }}>
            <input className="input grow" aria-label="Path of a pack to import" placeholder="Import from, e.g. /home/me/handbook.paramkb"
              value={importPath} onChange={(e) => setImportPath(e.target.value)} />
            <button className="button" type="submit" disabled={busy || !importPath.trim()}>Import pack</button>
          </form>
        </>
      )}
      {work && (
        <div className="import-status" role="status" aria-label="Pack progress">
          <ProgressBar value={percent(work.done, work.total)} label="Pack progress" />
          <span className="muted">{work.operation === 'export' ? 'Writing the pack…' : work.phase === 'verifying' ? 'Checking the pack…' : 'Adding the pack…'}</span>
        </div>
      )}
      {error && !work && <p className="field-error" role="alert">{error}</p>}
      {last && !work && (
        <div className="import-report" role="status" aria-label="Pack result">
          {last.operation === 'export' ? (
            <span>
              Exported {last.report.documents} documents, {last.report.passages} passages and {last.report.adapters} adapters
              ({formatBytes(last.report.bytes)}) to {last.report.path}{last.report.model ? ` for ${last.report.model}` : ''}.
            </span>
          ) : (
            <span>
              Imported {last.report.documentsAdded} new documents ({last.report.passagesAdded} passages) and {last.report.adaptersAdded} adapters;
              {' '}{last.report.documentsPresent} already here.
              {last.report.warnings.map((w) => <span key={w} className="hint"> {w}</span>)}
            </span>
          )}
        </div>
      )}
    </section>
  );
}

function Highlighted({ snippet }: { snippet: string }) {
  // The engine marks matched terms with [[ and ]]; render them as <mark>, never as HTML.
  const parts = snippet.split(/\[\[|\]\]/);
  return <>{parts.map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : <span key={i}>{part}</span>))}</>;
}

function SearchPanel() {
  const query = useApp((s) => s.searchQuery);
  const results = useApp((s) => s.searchResults);
  const search = useApp((s) => s.search);
  const showDocument = useApp((s) => s.showDocument);
  return (
    <section className="panel" aria-label="Search">
      <div className="search">
        <Icon name="search" />
        <input
          id={FOCUS_TARGETS.search}
          className="search__input"
          type="search"
          aria-label="Search the knowledge base"
          placeholder="Search passages (Ctrl+K)"
          value={query}
          onChange={(e) => void search(e.target.value)}
        />
      </div>
      {results && (
        results.length === 0 ? <p className="muted">No passage matches “{query}”.</p> : (
          <ol className="results" aria-label="Search results">
            {results.map((hit: SearchHit) => (
              <li key={hit.passageId}>
                <button className="result" onClick={() => void showDocument(hit.documentId, hit.passageId)}>
                  <span className="result__doc">{hit.documentTitle} · passage {hit.position + 1}</span>
                  <span className="result__snippet"><Highlighted snippet={hit.snippet} /></span>
                </button>
              </li>
            ))}
          </ol>
        )
      )}
    </section>
  );
}

function DocumentList({ documents }: { documents: DocumentSummary[] }) {
  const shell = useApp((s) => s.shell);
  const showDocument = useApp((s) => s.showDocument);
  const deleteDocument = useApp((s) => s.deleteDocument);
  const reencodeDocument = useApp((s) => s.reencodeDocument);
  const current = useApp((s) => (s.queue?.paused ? null : s.queue?.current ?? null));
  const canEncode = useApp((s) => s.queue?.availability.available ?? true);
  if (documents.length === 0) {
    return (
      <section className="panel empty" aria-label="Documents">
        <h2>No documents yet</h2>
        <p>Add files or a folder above. Each document is split into passages that you can search and ask about right away;
          the model then learns each passage as a small adapter in the background.</p>
      </section>
    );
  }
  return (
    <section className="panel" aria-label="Documents">
      <h2 className="panel__title">Documents</h2>
      <table className="table">
        <thead>
          <tr><th scope="col">Document</th><th scope="col">Passages</th><th scope="col">Size</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
        </thead>
        <tbody>
          {documents.map((d) => (
            <tr key={d.id} aria-label={d.title}>
              <td>
                <button className="link doc-title" onClick={() => void showDocument(d.id)} title={d.path ?? d.title}>{d.title}</button>
                <span className="doc-format">{d.format}</span>
                {d.status === 'failed' && d.error && <p className="text-danger doc-error">{d.error}</p>}
                {current?.documentId === d.id && <p className="muted doc-step">Passage {current.position + 1}: {current.step}</p>}
              </td>
              <td>{d.encodedCount}/{d.passageCount}</td>
              <td>{formatBytes(d.sizeBytes)}</td>
              <td><StatusBadge document={d} canEncode={canEncode} /></td>
              <td className="actions">
                {shell && d.path && (
                  <button className="icon-button" aria-label={`Open ${d.title}`} title="Open the file" onClick={() => void shell.openDocument(d.id)}>
                    <Icon name="external" />
                  </button>
                )}
                {canEncode && (
                  <button className="icon-button" aria-label={`Re-encode ${d.title}`} title="Re-encode" onClick={() => void reencodeDocument(d.id)}>
                    <Icon name="refresh" />
                  </button>
                )}
                <ConfirmButton label={`Delete ${d.title}`} icon="trash" confirmText="Delete" onConfirm={() => void deleteDocument(d.id)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
