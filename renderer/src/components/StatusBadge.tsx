// A document's place on the way from imported to learned (DESIGN §2: searchable at once,
// adapters arrive in the background).
import type { DocumentSummary } from '../../../electron/shared/types.js';
import { percent } from '../format.js';

export function StatusBadge({ document }: { document: DocumentSummary }) {
  switch (document.status) {
    case 'indexed': return <span className="status status--indexed" title="Searchable; not queued for encoding">Indexed</span>;
    case 'queued': return (
      <span className="status status--indexed" title="Searchable; its passages wait for the encoder">
        Queued{document.encodedCount > 0 ? ` · ${percent(document.encodedCount, document.passageCount)}%` : ''}
      </span>
    );
    case 'encoding': return <span className="status status--encoding">Encoding {percent(document.encodedCount, document.passageCount)}%</span>;
    case 'encoded': return <span className="status status--encoded" title="Every passage has an adapter">Encoded</span>;
    case 'failed': return <span className="status status--failed" title={document.error ?? undefined}>Failed</span>;
  }
}
