// A document's place on the way from imported to learned (DESIGN §2: searchable at once,
// adapters arrive in the background).
import type { DocumentSummary } from '../../../electron/shared/types.js';
import { percent } from '../format.js';

/** `canEncode` false: this computer cannot encode (see EncodingUnavailable), so nothing is waiting. */
export function StatusBadge({ document, canEncode = true }: { document: DocumentSummary; canEncode?: boolean }) {
  switch (document.status) {
    case 'indexed': return <span className="status status--indexed" title={canEncode ? 'Searchable; not queued for encoding' : 'Searchable; encoding is unavailable on this computer'}>Indexed</span>;
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
