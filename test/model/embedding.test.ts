// The real embedding model (all-MiniLM-L6-v2, converted from its PyPI wheel by
// scripts/fetch-models.js) in node-llama-cpp's prebuilt llama.cpp, and the engine around it:
// passages embedded in the background after import, hybrid search finding a paraphrase that
// BM25 cannot, vectors gone with their document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import { EmbeddingRuntime } from '../../electron/core/llm/embeddingRuntime.js';
import { realModelPath } from '../support/realModels.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

let dir: string;
let modelPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-embedding-'));
  modelPath = await realModelPath('all-minilm-l6-v2');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! * a[i]!; nb += b[i]! * b[i]!; }
  return dot / Math.sqrt(na * nb);
};

describe('EmbeddingRuntime', () => {
  it('runs the converted BERT model as sentence-transformers does', async () => {
    const runtime = await EmbeddingRuntime.load({ modelPath, threads: 1, useGpu: false });
    try {
      expect(runtime.dimensions).toBe(384);
      const [cat, feline, revenue] = await Promise.all([
        runtime.embed('The cat sits on the mat.'), runtime.embed('A feline is resting on a rug.'), runtime.embed('Quarterly revenue grew by ten percent.'),
      ]);
      // sentence-transformers/all-MiniLM-L6-v2 in PyTorch (fp32, mean pooling): 0.5735 and -0.0272.
      expect(cosine(cat!, feline!)).toBeCloseTo(0.5735, 2);
      expect(cosine(cat!, revenue!)).toBeCloseTo(-0.0272, 2);
      // A passage longer than the model's 512-token context is cut, not refused.
      expect((await runtime.embed('word '.repeat(2000))).length).toBe(384);
    } finally {
      await runtime.dispose();
    }
  });

  it('refuses a chat model with a clear error', async () => {
    await expect(EmbeddingRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 1, useGpu: false }))
      .rejects.toMatchObject({ code: 'not-embedding-model' });
  });
});

describe('Engine with an embedding model', () => {
  it('embeds imported passages in the background, finds paraphrases, and drops vectors with their document', async () => {
    const events: number[] = [];
    const engine = await Engine.open({ dataDir: join(dir, 'kb'), embeddingModelPath: modelPath, useGpu: false, events: (event, payload) => {
      if (event === 'embeddingProgress') events.push((payload as { embedded: number }).embedded);
    } });
    try {
      engine.afterImport(engine.importer.importRecords([
        { id: 'cat', title: 'Pets', text: 'The cat sits on the mat by the fire every evening.' },
        { id: 'money', title: 'Report', text: 'Quarterly revenue grew by ten percent after the merger.' },
        { id: 'river', title: 'Geography', text: 'The river floods the valley each spring.' },
      ]));
      await engine.embeddings.idle();
      const status = await engine.getEmbeddingStatus();
      expect(status).toMatchObject({ embedded: 3, total: 3, running: false, error: null, model: { dimensions: 384 } });
      expect(events.at(-1)).toBe(3);

      // No word of the query is in the passage: BM25 cannot find it, the vectors can.
      const query = 'feline resting on a rug';
      expect((await engine.retriever.retrieve(query, 1, { method: 'bm25' })).hits).toEqual([]);
      expect((await engine.search(query, 1))[0]!.documentTitle).toBe('Pets');
      expect((await engine.retriever.retrieve('company earnings rose', 1, { method: 'vector' })).hits[0]!.documentTitle).toBe('Report');

      const pets = (await engine.listDocuments()).find((d) => d.title === 'Pets')!;
      await engine.deleteDocument(pets.id);
      expect(await engine.getEmbeddingStatus()).toMatchObject({ embedded: 2, total: 2 });
      expect((await engine.search(query, 3)).map((h) => h.documentTitle)).not.toContain('Pets');
    } finally {
      await engine.close();
    }
    // Reopened, the knowledge base remembers its embedding model.
    const reopened = await Engine.open({ dataDir: join(dir, 'kb'), useGpu: false });
    try {
      expect((await reopened.getEmbeddingStatus()).model?.path).toBe(modelPath);
    } finally {
      await reopened.close();
    }
  });
});
