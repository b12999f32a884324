// Says that passages cannot be learned as adapters on this computer, why (the engine's reason:
// the native trainer did not build or does not load here), and what still works. Knowledge and
// Models show it; it renders nothing where encoding works.
import { useApp } from '../StoreContext.js';

export function EncodingUnavailable() {
  const availability = useApp((s) => s.queue?.availability);
  if (!availability || availability.available) return null;
  return (
    <section className="panel panel--warn" aria-label="Encoding unavailable">
      <h2 className="panel__title">Parametric encoding is unavailable on this computer</h2>
      <p className="mono">{availability.reason}</p>
      <p className="muted">
        Search and answers from your passages (context mode) work as usual; passages are not learned as adapters here,
        so parametric and combine answers use the passages alone.
      </p>
    </section>
  );
}
