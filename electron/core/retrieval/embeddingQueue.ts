// Background embedding, in the engine process: every passage without a vector of the current
// embedding model is embedded, oldest first, a few at a time. The queue is the database itself
// (VectorStore.pending), so there are no jobs to keep: an import, a restart or a model change
// just wakes the loop. It steps aside while an answer runs (the answer's query embedding and
// generation come first) and resumes after; a passage takes milliseconds, so it never holds an
// answer up for long.
import type { EmbeddingStatus } from '../../shared/types.js';
import type { EmbeddingRuntime } from '../llm/embeddingRuntime.js';
import type { EmbeddingModelRecord, VectorStore } from './vectorStore.js';

const BATCH = 16;
const BUSY_POLL_MS = 100;

export interface EmbeddingTarget {
  runtime: EmbeddingRuntime;
  model: EmbeddingModelRecord;
}

export class EmbeddingQueue {
  private target: EmbeddingTarget | null = null;
  private running: Promise<void> | null = null;
  /** The embedding in progress, so a model change can wait for it before freeing the old model. */
  private inFlight: Promise<unknown> | null = null;
  private error: string | null = null;
  private closed = false;

  /**
   * @param busy true while answers are in flight; the loop waits for them.
   * @param onProgress called after each batch and when the loop stops.
   */
  constructor(
    private readonly store: VectorStore,
    private readonly busy: () => boolean,
    private readonly onProgress: (status: EmbeddingStatus) => void,
  ) {}

  /**
   * Embeds with this model from now on (null: stop embedding); its missing passages are queued.
   * Resolves once the previous model is no longer in use.
   */
  async setTarget(target: EmbeddingTarget | null): Promise<void> {
    this.target = target;
    this.error = null;
    await this.inFlight?.catch(() => undefined);
    this.notify();
  }

  /** Looks for passages to embed (after an import); does nothing when the loop already runs. */
  notify(): void {
    if (this.running || this.closed || !this.target) return;
    this.running = this.run().finally(() => {
      this.running = null;
      this.onProgress(this.status());
    });
  }

  /** Resolves when every passage has a vector of the current model (or the loop stopped on an error). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  status(): EmbeddingStatus {
    const target = this.target;
    const { embedded, total } = this.store.progress(target?.model.id ?? null);
    return {
      model: target ? { path: target.runtime.modelPath, name: target.runtime.name, dimensions: target.model.dimensions, sizeBytes: target.runtime.sizeBytes } : null,
      embedded, total, running: this.running !== null, error: this.error,
    };
  }

  private async run(): Promise<void> {
    for (;;) {
      const target = this.target;
      if (!target || this.closed) return;
      const batch = this.store.pending(target.model.id, BATCH);
      if (batch.length === 0) return;
      for (const passage of batch) {
        while (this.busy() && !this.closed) await new Promise((resolve) => setTimeout(resolve, BUSY_POLL_MS));
        if (this.closed || this.target !== target) break;
        try {
          const embedding = target.runtime.embed(passageText(passage.title, passage.text));
          this.inFlight = embedding;
          this.store.add(target.model, passage.id, await embedding);
        } catch (error) {
          // A model that fails on a passage fails on all of them; stop and report it.
          this.error = `Embedding stopped: ${(error as Error).message}`;
          return;
        } finally {
          this.inFlight = null;
        }
      }
      this.onProgress(this.status());
    }
  }

  /** Stops the loop after the passage in progress. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}

/** The text embedded for a passage: its document's title, then the passage (as DPR encodes title and text). */
export function passageText(title: string, text: string): string {
  return title ? `${title}\n${text}` : text;
}
