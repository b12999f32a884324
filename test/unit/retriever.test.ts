// Fusion order on a hand-made case, the second hop's reading of a passage, and a hop that finds
// the passage BM25 alone misses (the world's bridge questions: the answer is in the mentor's
// passage, which the question does not name).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DocumentStore } from '../../electron/core/database/documentStore.js';
import { Importer } from '../../electron/core/ingest/importer.js';
import { Bm25Retriever } from '../../electron/core/retrieval/bm25.js';
import { fuseRankings, Retriever } from '../../electron/core/retrieval/retriever.js';
import { bridgeEntities, mergeHops } from '../../electron/core/retrieval/secondHop.js';
import { VectorStore } from '../../electron/core/retrieval/vectorStore.js';
import type { SearchHit } from '../../electron/shared/types.js';

describe('fuseRankings', () => {
  // BM25 ranks 1 > 2 > 3 with one strong match; the vectors rank 3 > 4 > 1.
  const bm25 = [{ passageId: 1, score: 12 }, { passageId: 2, score: 6 }, { passageId: 3, score: 5.5 }];
  const vector = [{ passageId: 3, score: 0.9 }, { passageId: 4, score: 0.8 }, { passageId: 1, score: 0.3 }];

  it('rrf sums reciprocal ranks: in both lists beats first in one', () => {
    const fused = fuseRankings(bm25, [{ passageId: 3, score: 0.9 }, { passageId: 2, score: 0.8 }, { passageId: 4, score: 0.3 }], 'rrf');
    // 3: 1/63 + 1/61, 2: 1/62 + 1/62, 1: 1/61, 4: 1/63.
    expect(fused.map((f) => f.passageId)).toEqual([3, 2, 1, 4]);
    expect(fused[0]!.score).toBe(1);
    expect(fused[2]!.score).toBeCloseTo((1 / 61) / (1 / 63 + 1 / 61), 12);
  });

  it('convex adds scaled scores: a strong BM25 match stays first', () => {
    const fused = fuseRankings(bm25, vector, 'convex', 0.5);
    // 1: 0.5 * 1 + 0.5 * 0 = 0.5; 3: 0.5 * 5.5/12 + 0.5 * 1 = 0.729; 4: 0.5 * 0.833 = 0.417; 2: 0.25.
    expect(fused.map((f) => f.passageId)).toEqual([3, 1, 4, 2]);
    expect(fused.map((f) => Number(f.score.toFixed(3)))).toEqual([1, 0.686, 0.571, 0.343]);
    expect(fuseRankings(bm25, vector, 'convex', 0.9).map((f) => f.passageId)).toEqual([1, 3, 2, 4]);
  });

  it('returns one list when the other is empty', () => {
    expect(fuseRankings(bm25, [], 'convex').map((f) => f.passageId)).toEqual([1, 2, 3]);
    expect(fuseRankings([], vector, 'rrf').map((f) => f.passageId)).toEqual([3, 4, 1]);
  });
});

describe('bridgeEntities', () => {
  const passage = {
    title: 'Luvik Vunto Geley',
    text: 'Luvik Vunto Geley was born on 20 December 1928 in Faisford. Geley studied at University of Boulkblae. '
      + 'Luvik was mentored by Mulkara Kullo Kososworth. He is employed by Sethzhear Materials.',
  };

  it('finds the names the passage introduces, the one the question asks about first', () => {
    const entities = bridgeEntities('Where was the mentor of Luvik Vunto Geley born?', passage);
    const names = entities.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['Faisford', 'University of Boulkblae', 'Mulkara Kullo Kososworth', 'Sethzhear Materials']));
    // Neither the subject (full name, first or last name) nor a month is a bridge.
    expect(names.some((n) => /Geley|Luvik|December/.test(n))).toBe(false);
    // "mentored" matches the question's "mentor"; "born" matches the birth sentence too.
    expect(entities.find((e) => e.name === 'Mulkara Kullo Kososworth')!.overlap).toBe(1);
    expect(entities.find((e) => e.name === 'Faisford')!.overlap).toBe(1);
    expect(entities.find((e) => e.name === 'Sethzhear Materials')!.overlap).toBe(0);
  });

  it('skips names the question already holds', () => {
    const names = bridgeEntities('Was Luvik Vunto Geley mentored by Mulkara Kullo Kososworth?', passage).map((e) => e.name);
    expect(names).not.toContain('Mulkara Kullo Kososworth');
  });
});

describe('mergeHops', () => {
  const hit = (passageId: number): SearchHit => ({ passageId, documentId: passageId, documentTitle: String(passageId), position: 0, score: 1, snippet: '', text: '' });
  it('puts the hop right after the passage that named it, within k', () => {
    expect(mergeHops([hit(1), hit(2), hit(3)], 0, [hit(9)], 3).map((h) => h.passageId)).toEqual([1, 9, 2]);
    expect(mergeHops([hit(1), hit(2), hit(3)], 1, [hit(9)], 3).map((h) => h.passageId)).toEqual([1, 2, 9]);
    expect(mergeHops([hit(1), hit(2)], 0, [hit(2)], 3).map((h) => h.passageId)).toEqual([1, 2]);
  });
});

describe('Retriever, second hop', () => {
  let dir: string;
  let db: Db;
  let retriever: Retriever;
  const people: [string, string][] = [
    ['Luvik Vunto Geley', 'Luvik Vunto Geley was born in Faisford. Geley studied at University of Boulkblae. Luvik was mentored by Mulkara Kullo Kososworth.'],
    ['Mulkara Kullo Kososworth', 'Mulkara Kullo Kososworth was born in Haridge. Kososworth is employed by Sethzhear Materials.'],
    // Distractors: people born in Faisford, and one sharing the first name and the word "mentor".
    ['Zhexa Lohuys Sucott', 'Zhexa Lohuys Sucott was born in Faisford. Her mentor was Vothroander Voscrane.'],
    ['Fioix Rivielle Naington', 'Fioix Rivielle Naington was born in Faisford, where the mentor of many lives.'],
    ['Luvik Rorae Tasmore', 'Luvik Rorae Tasmore was born in Tostekeld. His mentor was Stigeius Gicott.'],
    ['Stigeius Gicott', 'Stigeius Gicott was born in Lemoor. He works for Duvroxis Pharma.'],
  ];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'paramkb-hop-'));
    db = openDatabase(join(dir, 'kb.sqlite'));
    const documents = new DocumentStore(db, () => null);
    new Importer(db, documents).importRecords(people.map(([title, text], i) => ({ id: String(i), title, text })));
    retriever = new Retriever(new Bm25Retriever(db), new VectorStore(db), documents, () => null);
  });
  afterAll(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const question = 'Where was the mentor of Luvik Vunto Geley born?';

  it('BM25 alone misses the mentor\'s passage', async () => {
    const result = await retriever.retrieve(question, 3, { hop: 'never' });
    expect(result.method).toBe('bm25');
    expect(result.hits[0]!.documentTitle).toBe('Luvik Vunto Geley');
    expect(result.hits.map((h) => h.documentTitle)).not.toContain('Mulkara Kullo Kososworth');
    expect(result.bridge).toBeNull();
  });

  it('the hop follows the mentor\'s name to the passage with the answer', async () => {
    const result = await retriever.retrieve(question, 3);
    expect(result.bridge).toBe('Mulkara Kullo Kososworth');
    expect(result.hits.map((h) => h.documentTitle).slice(0, 2)).toEqual(['Luvik Vunto Geley', 'Mulkara Kullo Kososworth']);
    expect(result.hits[1]!.via).toBe('Mulkara Kullo Kososworth');
    expect(result.hits[1]!.score).toBeCloseTo(result.hits[0]!.score, 9);
    expect(result.hits).toHaveLength(3);
  });

  it('does not hop when the question names two passages (a comparison) or asks nothing a name answers', async () => {
    const comparison = await retriever.retrieve('Who was born first, Luvik Vunto Geley or Zhexa Lohuys Sucott?', 3);
    expect(comparison.bridge).toBeNull();
    expect(comparison.hits.map((h) => h.documentTitle).slice(0, 2).sort()).toEqual(['Luvik Vunto Geley', 'Zhexa Lohuys Sucott']);
    expect((await retriever.retrieve('Which subjects interest Stigeius Gicott?', 3)).bridge).toBeNull();
    // One sentence of the passage answers: the mentor's name is the answer, not a bridge.
    expect((await retriever.retrieve('Who mentored Luvik Vunto Geley?', 3)).bridge).toBeNull();
    expect((await retriever.retrieve('Who mentored Luvik Vunto Geley?', 3, { hop: 'always' })).bridge).toBe('Mulkara Kullo Kososworth');
  });

  it('hybrid without an embedding model is BM25, and vector search asks for one', async () => {
    const hybrid = await retriever.retrieve(question, 3, { method: 'hybrid', hop: 'never' });
    const bm25 = await retriever.retrieve(question, 3, { method: 'bm25', hop: 'never' });
    expect(hybrid).toEqual(bm25);
    await expect(retriever.retrieve(question, 3, { method: 'vector' })).rejects.toThrow(/embedding model/);
  });
});
