// Retrieval latency over 100k passages: BM25 (issue: under 50 ms per query), vector search and
// hybrid (BM25 + vectors fused; issue 15: p95 under 100 ms). Synthetic passages of 100-200 words
// from a 60k-word vocabulary with Zipf-like frequencies; queries mix rare names and common
// words, like user questions. Vectors are random unit vectors of all-MiniLM-L6-v2's dimension
// (384): a search's cost does not depend on their values. The query's embedding is timed apart,
// with the real model when scripts/fetch-models.js has fetched it, and embedding throughput
// (passages per second) on the synthetic passages. Prints JSON, then a table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../electron/core/database/database.js';
import { DocumentStore } from '../electron/core/database/documentStore.js';
import { EmbeddingRuntime } from '../electron/core/llm/embeddingRuntime.js';
import { Bm25Retriever } from '../electron/core/retrieval/bm25.js';
import { passageText } from '../electron/core/retrieval/embeddingQueue.js';
import { Retriever } from '../electron/core/retrieval/retriever.js';
import { VectorStore } from '../electron/core/retrieval/vectorStore.js';
import { splitIntoPassages } from '../electron/core/ingest/passages.js';
import { fetchModel, realModels } from '../scripts/fetch-models.js';

const PASSAGES = Number(process.env.PASSAGES ?? 100_000);
const QUERIES = 300;
const DIMENSIONS = 384;
const EMBEDDED_PASSAGES = 50;
let seed = 12345;
const random = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
const syllables = ['ka', 'lo', 'mer', 'the', 'dor', 'vin', 'sa', 'ul', 'bre', 'qua', 'zen', 'ti', 'mon', 'ra', 'ish', 'fel'];
const vocabulary = Array.from({ length: 60_000 }, (_, i) => {
  let w = '';
  let n = i + 7;
  do { w += syllables[n % syllables.length]; n = Math.floor(n / syllables.length); } while (n > 0);
  return w;
});
const zipfWord = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)]!;
const sentence = () => {
  const words = Array.from({ length: 8 + Math.floor(random() * 10) }, zipfWord);
  return `${words[0]![0]!.toUpperCase()}${words.join(' ').slice(1)}.`;
};

const dir = mkdtempSync(join(tmpdir(), 'paramkb-bench-retrieval-'));
try {
  const db = openDatabase(join(dir, 'kb.sqlite'));
  const documents = new DocumentStore(db, () => null);
  const started = performance.now();
  db.transaction(() => {
    for (let i = 0; i < PASSAGES; i++) {
      const text = Array.from({ length: 10 }, sentence).join(' ');
      documents.save({ sourceKey: `bench:${i}`, path: null, title: `${zipfWord()} ${zipfWord()}`, format: 'txt', sizeBytes: text.length, contentHash: String(i), passages: splitIntoPassages(text, { minWords: 100, maxWords: 400 }) });
    }
  })();
  const indexSeconds = (performance.now() - started) / 1000;
  const retriever = new Bm25Retriever(db);
  const queries = Array.from({ length: QUERIES }, () => `Where did ${zipfWord()} ${zipfWord()} meet the ${zipfWord()} of ${zipfWord()}?`);
  const unitVector = () => {
    const v = new Float32Array(DIMENSIONS).map(() => random() - 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };

  const vectorsStarted = performance.now();
  const vectors = new VectorStore(db);
  const model = vectors.register('bench-random-384', 'random vectors', DIMENSIONS);
  const passageIds = db.prepare('SELECT id FROM passages').pluck().all() as number[];
  db.transaction(() => { for (const id of passageIds) vectors.add(model, id, unitVector()); })();
  const vectorIndexSeconds = (performance.now() - vectorsStarted) / 1000;
  // The query vectors are made ahead: ranking is timed here, the query's embedding below.
  const queryVectors = new Map(queries.map((q) => [q, unitVector()]));
  const target = { model, runtime: { embed: async (q: string) => queryVectors.get(q) ?? unitVector() } as unknown as EmbeddingRuntime };
  const hybrid = new Retriever(retriever, vectors, documents, () => target);

  const timed = async (search: (q: string) => unknown) => {
    for (const q of queries.slice(0, 20)) await search(q); // warm the page cache
    const times: number[] = [];
    for (const q of queries) { const t = performance.now(); await search(q); times.push(performance.now() - t); }
    times.sort((a, b) => a - b);
    const at = (p: number) => Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2));
    return { p50Ms: at(0.5), p95Ms: at(0.95), maxMs: Number(times.at(-1)!.toFixed(2)) };
  };
  const rows = {
    bm25: await timed((q) => retriever.search(q, 3)),
    vector: await timed((q) => hybrid.rank(q, 3, 'vector')),
    hybrid: await timed((q) => hybrid.rank(q, 3, 'hybrid')),
    'hybrid + hop (auto)': await timed((q) => hybrid.retrieve(q, 3)),
  };

  // The real embedding model, when fetched: query embedding time and passages per second.
  let embedding: { model: string; threads: number; queryP50Ms: number; queryP95Ms: number; passagesPerSecond: number } | null = null;
  const minilm = realModels().find((m) => m.id === 'all-minilm-l6-v2');
  const threads = Number(process.env.THREADS ?? 1);
  if (minilm && process.env.SKIP_EMBEDDING !== '1') {
    const runtime = await EmbeddingRuntime.load({ modelPath: await fetchModel(minilm, undefined, () => undefined), threads, useGpu: false });
    try {
      const queryTimes: number[] = [];
      for (const q of queries.slice(0, 100)) { const t = performance.now(); await runtime.embed(q); queryTimes.push(performance.now() - t); }
      queryTimes.sort((a, b) => a - b);
      const sample = db.prepare('SELECT d.title, p.text FROM passages p JOIN documents d ON d.id = p.document_id LIMIT ?').all(EMBEDDED_PASSAGES) as { title: string; text: string }[];
      const t = performance.now();
      for (const p of sample) await runtime.embed(passageText(p.title, p.text));
      embedding = {
        model: minilm.name, threads,
        queryP50Ms: Number(queryTimes[50]!.toFixed(2)), queryP95Ms: Number(queryTimes[95]!.toFixed(2)),
        passagesPerSecond: Number((sample.length / ((performance.now() - t) / 1000)).toFixed(1)),
      };
    } finally {
      await runtime.dispose();
    }
  }
  const result = {
    passages: documents.counts().passages, queries: QUERIES, k: 3, dimensions: DIMENSIONS,
    indexSeconds: Number(indexSeconds.toFixed(1)), vectorIndexSeconds: Number(vectorIndexSeconds.toFixed(1)),
    ...rows, embedding, targetMs: { bm25: 50, hybrid: 100 },
  };
  db.close();
  console.log(JSON.stringify(result));
  const lines = Object.entries(rows).map(([name, r]) => `| ${name} | ${r.p50Ms} | ${r.p95Ms} | ${r.maxMs} |`);
  console.log(`\n| ${result.passages} passages | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- |\n${lines.join('\n')}`);
  if (embedding) console.log(`\nQuery embedding (${embedding.model}, ${threads} thread): p50 ${embedding.queryP50Ms} ms, p95 ${embedding.queryP95Ms} ms; passages embedded: ${embedding.passagesPerSecond} per second.`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
