// The vector table's life cycle: vectors stored per passage and embedding model, found by
// similarity through the vec0 bit index, deleted with their document, and kept per model when
// the embedding model changes (the queue then embeds every passage for the new one).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DocumentStore } from '../../electron/core/database/documentStore.js';
import { Importer } from '../../electron/core/ingest/importer.js';
import { EmbeddingQueue, passageText, type EmbeddingTarget } from '../../electron/core/retrieval/embeddingQueue.js';
import { VectorStore } from '../../electron/core/retrieval/vectorStore.js';
import type { EmbeddingRuntime } from '../../electron/core/llm/embeddingRuntime.js';

let dir: string;
let db: Db;
let documents: DocumentStore;
let store: VectorStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-vectors-'));
  db = openDatabase(join(dir, 'kb.sqlite'));
  documents = new DocumentStore(db, () => null);
  store = new VectorStore(db);
  new Importer(db, documents).importRecords([
    { id: 'a', title: 'Cats', text: 'The cat sleeps on the warm mat all afternoon.' },
    { id: 'b', title: 'Revenue', text: 'Quarterly revenue grew by ten percent.' },
    { id: 'c', title: 'Rivers', text: 'The river floods the valley every spring.' },
  ]);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const passageIds = () => db.prepare('SELECT id FROM passages ORDER BY id').pluck().all() as number[];
const indexRows = (modelId: number) => db.prepare(`SELECT passage_id FROM passage_vectors_index_${modelId} ORDER BY passage_id`).pluck().all() as number[];
const unit = (...values: number[]) => Float32Array.from(values);

describe('VectorStore', () => {
  it('stores a vector per passage and model, and finds the nearest passages first', () => {
    const model = store.register('model-a', 'A', 8);
    const [a, b, c] = passageIds() as [number, number, number];
    expect(store.pending(model.id, 10).map((p) => p.id)).toEqual([a, b, c]);
    store.add(model, a, unit(1, 1, 0, 0, 0, 0, 0, 0));
    store.add(model, b, unit(0, 0, 1, 1, 0, 0, 0, 0));
    store.add(model, c, unit(1, 0.9, 0.2, 0, 0, 0, 0, 0));
    expect(store.pending(model.id, 10)).toEqual([]);
    expect(store.progress(model.id)).toEqual({ embedded: 3, total: 3 });
    expect(indexRows(model.id)).toEqual([a, b, c]);
    const hits = store.search(model, unit(2, 2, 0, 0, 0, 0, 0, 0), 3);
    expect(hits.map((h) => h.passageId)).toEqual([a, c, b]);
    expect(hits[0]!.similarity).toBeCloseTo(1, 5);
    expect(hits[2]!.similarity).toBeCloseTo(0, 5);
  });

  it('replaces a passage vector instead of adding a second one', () => {
    const model = store.register('model-a', 'A', 8);
    const [a] = passageIds() as [number];
    store.add(model, a, unit(1, 0, 0, 0, 0, 0, 0, 0));
    store.add(model, a, unit(0, 1, 0, 0, 0, 0, 0, 0));
    expect(indexRows(model.id)).toEqual([a]);
    expect(store.search(model, unit(0, 1, 0, 0, 0, 0, 0, 0), 1)[0]!.similarity).toBeCloseTo(1, 5);
  });

  it('deletes the vectors and index rows of a deleted document, and refuses vectors for passages that are gone', () => {
    const model = store.register('model-a', 'A', 8);
    const ids = passageIds();
    ids.forEach((id, i) => store.add(model, id, unit(i + 1, 1, 0, 0, 0, 0, 0, 1)));
    const docId = (db.prepare('SELECT document_id FROM passages WHERE id = ?').pluck().get(ids[0]) as number);
    documents.delete(docId);
    expect(indexRows(model.id)).toEqual(ids.slice(1));
    expect(db.prepare('SELECT COUNT(*) FROM passage_vectors').pluck().get()).toBe(2);
    expect(store.search(model, unit(1, 1, 0, 0, 0, 0, 0, 1), 3).map((h) => h.passageId)).not.toContain(ids[0]);
    expect(store.add(model, ids[0]!, unit(1, 0, 0, 0, 0, 0, 0, 0))).toBe(false);
    expect(store.progress(model.id)).toEqual({ embedded: 2, total: 2 });
  });

  it('keeps each model in its own index, of its own dimension', () => {
    const small = store.register('model-a', 'A', 8);
    const large = store.register('model-b', 'B', 16);
    expect(store.register('model-a', 'A', 8)).toEqual(small);
    const [a] = passageIds() as [number];
    store.add(small, a, unit(1, 0, 0, 0, 0, 0, 0, 0));
    expect(store.pending(large.id, 10)).toHaveLength(3);
    expect(store.progress(large.id).embedded).toBe(0);
    expect(store.search(large, new Float32Array(16).fill(1), 3)).toEqual([]);
    expect(() => store.add(large, a, unit(1, 0, 0, 0, 0, 0, 0, 0))).toThrow(/16 dimensions, not 8/);
    expect(() => store.register('model-c', 'C', 12)).toThrow(RangeError);
    expect(() => store.add(small, a, new Float32Array(8))).toThrow(/not all zeros/);
  });
});

/** A deterministic stand-in for an embedding model: a vector from the text's letters. */
function letterEmbedder(name: string, dimensions: number, calls: string[]): EmbeddingRuntime {
  return {
    modelPath: `/models/${name}.gguf`, name, fingerprint: name, dimensions, sizeBytes: 1,
    embed: async (text: string) => {
      calls.push(text);
      const v = new Float32Array(dimensions).fill(0.01);
      for (const ch of text.toLowerCase()) if (ch >= 'a' && ch <= 'z') v[(ch.charCodeAt(0) - 97) % dimensions]! += 1;
      return v;
    },
    dispose: async () => undefined,
  } as unknown as EmbeddingRuntime;
}

describe('EmbeddingQueue', () => {
  it('embeds every passage in the background, and everything again for a new model', async () => {
    const calls: string[] = [];
    const progress: number[] = [];
    const queue = new EmbeddingQueue(store, () => false, (s) => progress.push(s.embedded));
    const first: EmbeddingTarget = { runtime: letterEmbedder('first', 8, calls), model: store.register('first', 'first', 8) };
    await queue.setTarget(first);
    await queue.idle();
    expect(store.progress(first.model.id)).toEqual({ embedded: 3, total: 3 });
    expect(calls).toContain(passageText('Cats', 'The cat sleeps on the warm mat all afternoon.'));
    expect(queue.status()).toMatchObject({ model: { name: 'first', dimensions: 8 }, embedded: 3, total: 3, running: false, error: null });

    new Importer(db, documents).importRecords([{ id: 'd', title: 'Dogs', text: 'A dog barks at the mail carrier.' }]);
    queue.notify();
    await queue.idle();
    expect(store.progress(first.model.id)).toEqual({ embedded: 4, total: 4 });

    const second: EmbeddingTarget = { runtime: letterEmbedder('second', 16, calls), model: store.register('second', 'second', 16) };
    calls.length = 0;
    await queue.setTarget(second);
    await queue.idle();
    expect(calls).toHaveLength(4);
    expect(store.progress(second.model.id)).toEqual({ embedded: 4, total: 4 });
    // The first model's vectors stay, for switching back without embedding again.
    expect(store.progress(first.model.id)).toEqual({ embedded: 4, total: 4 });
    expect(progress.at(-1)).toBe(4);
    await queue.close();
  });

  it('waits while answers run, and stops with a reported error when the model fails', async () => {
    let busy = true;
    const calls: string[] = [];
    const queue = new EmbeddingQueue(store, () => busy, () => undefined);
    await queue.setTarget({ runtime: letterEmbedder('m', 8, calls), model: store.register('m', 'm', 8) });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(calls).toEqual([]);
    busy = false;
    await queue.idle();
    expect(calls).toHaveLength(3);

    const failing = { ...letterEmbedder('bad', 8, []), embed: async () => { throw new Error('out of memory'); } } as unknown as EmbeddingRuntime;
    await queue.setTarget({ runtime: failing, model: store.register('bad', 'bad', 8) });
    await queue.idle();
    expect(queue.status().error).toMatch(/out of memory/);
    await queue.close();
  });
});
