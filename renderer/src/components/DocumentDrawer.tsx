// A document's passages, opened from a source, a search hit or the document list; the passage
// that led here is highlighted and scrolled into view. The list is virtualised with
// @tanstack/react-virtual: a large document has tens of thousands of passages, and only those
// near the view are in the DOM.
import { defaultRangeExtractor, useVirtualizer, type Range } from '@tanstack/react-virtual';
import { useCallback, useEffect, useRef } from 'react';
import type { DocumentDetail } from '../../../electron/shared/types.js';
import { useApp } from '../StoreContext.js';
import { StatusBadge } from './StatusBadge.js';
import { Icon } from './Icon.js';

/** A first guess of a passage's height in pixels, before it is measured. */
const ESTIMATED_PASSAGE_HEIGHT = 150;
const PASSAGE_GAP = 10;

export function DocumentDrawer() {
  const open = useApp((s) => s.openDocument);
  const close = useApp((s) => s.closeDocument);
  const shell = useApp((s) => s.shell);
  const canEncode = useApp((s) => s.queue?.availability.available ?? true);

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
      <PassageList key={`${detail.id}:${highlightPassageId}`} detail={detail} highlightPassageId={highlightPassageId} />
    </div>
  );
}

function PassageList({ detail, highlightPassageId }: { detail: DocumentDetail; highlightPassageId: number | null }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const passages = detail.passages;
  const highlightIndex = highlightPassageId === null ? -1 : passages.findIndex((p) => p.id === highlightPassageId);
  // The highlighted passage is always rendered, wherever the view is.
  const rangeExtractor = useCallback((range: Range) => {
    const indexes = defaultRangeExtractor(range);
    if (highlightIndex >= 0 && !indexes.includes(highlightIndex)) indexes.push(highlightIndex);
    return indexes.sort((a, b) => a - b);
  }, [highlightIndex]);
  const virtualizer = useVirtualizer({
    count: passages.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ESTIMATED_PASSAGE_HEIGHT,
    getItemKey: (index) => passages[index]!.id,
    gap: PASSAGE_GAP,
    overscan: 4,
    rangeExtractor,
  });

  useEffect(() => {
    if (highlightIndex >= 0) virtualizer.scrollToIndex(highlightIndex, { align: 'center' });
  }, [virtualizer, highlightIndex]);

  return (
    <div className="passages" ref={scrollRef}>
      <ol className="passages__list" aria-label="Passages" style={{ height: virtualizer.getTotalSize() }}>
        {virtualizer.getVirtualItems().map((item) => {
          const p = passages[item.index]!;
          return (
            <li
              key={item.key}
              data-index={item.index}
              ref={virtualizer.measureElement}
              aria-setsize={passages.length}
              aria-posinset={item.index + 1}
              className={`passage${p.id === highlightPassageId ? ' passage--highlight' : ''}`}
              style={{ transform: `translateY(${item.start}px)` }}
            >
              <div className="passage__head">
                <span className="muted">Passage {p.position + 1}</span>
                <span className={`badge ${p.hasAdapter ? 'badge--adapter' : 'badge--pending'}`}>{p.hasAdapter ? 'adapter' : 'no adapter yet'}</span>
              </div>
              <p className="passage__text">{p.text}</p>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
