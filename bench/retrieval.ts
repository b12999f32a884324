// BM25 retrieval latency over 100k passages (issue: under 50 ms per query). Synthetic passages
// of 100-200 words from a 60k-word vocabulary with Zipf-like frequencies; queries mix rare
// names and common words, like user questions. Prints JSON, then a table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../electron/core/database/database.js';
import { DocumentStore } from '../electron/core/database/documentStore.js';
import { Bm25Retriever } from '../electron/core/retrieval/bm25.js';
import { splitIntoPassages } from '../electron/core/ingest/passages.js';

const PASSAGES = Number(process.env.PASSAGES ?? 100_000);
const QUERIES = 300;
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
  for (const q of queries.slice(0, 20)) retriever.search(q, 3); // warm the page cache
  const times = queries.map((q) => { const t = performance.now(); retriever.search(q, 3); return performance.now() - t; }).sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const result = {
    passages: documents.counts().passages, queries: QUERIES, k: 3, indexSeconds: Number(indexSeconds.toFixed(1)),
    p50Ms: Number(at(0.5).toFixed(2)), p95Ms: Number(at(0.95).toFixed(2)), maxMs: Number(times.at(-1)!.toFixed(2)), targetMs: 50,
  };
  db.close();
  console.log(JSON.stringify(result));
  console.log(`\n| passages | p50 ms | p95 ms | max ms | target |\n| --- | --- | --- | --- | --- |\n| ${result.passages} | ${result.p50Ms} | ${result.p95Ms} | ${result.maxMs} | < ${result.targetMs} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
