// A document's passages, opened from a source, a search hit or the document list; the passage
// that led here is highlighted and scrolled into view.
import { useEffect, useRef } from 'react';
import { useApp } from '../StoreContext.js';
import { StatusBadge } from './StatusBadge.js';
import { Icon } from './Icon.js';

export function DocumentDrawer() {
  const open = useApp((s) => s.openDocument);
  const close = useApp((s) => s.closeDocument);
  const shell = useApp((s) => s.shell);
  const canEncode = useApp((s) => s.queue?.availability.available ?? true);
  const highlighted = useRef<HTMLLIElement>(null);

  useEffect(() => {
    highlighted.current?.scrollIntoView?.({ block: 'center' });
  }, [open]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') close(); };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open, close]);

  if (!open) return null;
  const { detail, highlightPassageId } = open;
  return (
    <div className="drawer" role="dialog" aria-modal="false" aria-label={detail.title}>
      <header className="drawer__header">
        <div>
          <h2 className="drawer__title">{detail.title}</h2>
          <p className="muted drawer__path">{detail.path ?? 'Uploaded file'} · <StatusBadge document={detail} canEncode={canEncode} /></p>
        </div>
        <div className="row">
          {shell && detail.path && (
            <button className="button button--small" onClick={() => void shell.openDocument(detail.id)}>
              <Icon name="external" size={14} /> Open file
            </button>
          )}
          <button className="icon-button" aria-label="Close document" onClick={close}><Icon name="close" /></button>
        </div>
      </header>
      <ol className="passages">
        {detail.passages.map((p) => (
          <li
            key={p.id}
            ref={p.id === highlightPassageId ? highlighted : undefined}
            className={`passage${p.id === highlightPassageId ? ' passage--highlight' : ''}`}
          >
            <div className="passage__head">
              <span className="muted">Passage {p.position + 1}</span>
              <span className={`badge ${p.hasAdapter ? 'badge--adapter' : 'badge--pending'}`}>{p.hasAdapter ? 'adapter' : 'no adapter yet'}</span>
            </div>
            <p className="passage__text">{p.text}</p>
          </li>
        ))}
      </ol>
    </div>
  );
}
