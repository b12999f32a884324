import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DocumentStore } from '../../electron/core/database/documentStore.js';
import { Importer } from '../../electron/core/ingest/importer.js';
import { Bm25Retriever, ftsQuery, queryTerms } from '../../electron/core/retrieval/bm25.js';

let dir: string;
let db: Db;
let retriever: Bm25Retriever;

const people = [
  ['Kravelle Boustyus Daecrane', 'Kravelle Boustyus Daecrane was born on 20 December 1928. Daecrane studied art history. He is employed by Sethzhear Materials, which is based in Telisdale.'],
  ['Zhexa Lohuys Sucott', 'Zhexa Lohuys Sucott was born in Tostekeld. She studied at Drelljade School of Sciences. Sandheex Holdings employs Zhexa.'],
  ['Stigeius Shepeine Gicott', 'Stigeius Shepeine Gicott was born on 14 September 1903. He graduated from Royal Academy of Ninont. Stigeius is a native of Thafell.'],
  ['Fioix Rivielle Naington', 'On 12 September 1925, Fioix Rivielle Naington was born in the city of Faport. Fioix is employed by Duvroxis Pharma.'],
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-bm25-'));
  db = openDatabase(join(dir, 'kb.sqlite'));
  new Importer(db, new DocumentStore(db, () => null)).importRecords(people.map(([title, text], i) => ({ id: String(i), title: title!, text: text! })));
  retriever = new Bm25Retriever(db);
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('BM25 retrieval', () => {
  it.each([
    ['Where was Zhexa Lohuys Sucott born?', 'Zhexa Lohuys Sucott'],
    ['What university did Stigeius Shepeine Gicott graduate from?', 'Stigeius Shepeine Gicott'],
    ['Who employs Fioix Rivielle Naington?', 'Fioix Rivielle Naington'],
    ['Which company is based in Telisdale?', 'Kravelle Boustyus Daecrane'],
  ])('finds the right passage for %s', (question, title) => {
    const hits = retriever.search(question, 3);
    expect(hits[0]!.documentTitle).toBe(title);
    expect(hits[0]!.score).toBeGreaterThan(0);
    expect(hits[0]!.snippet).toContain('[[');
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
  });

  it('skipping terms found in most passages leaves the BM25 ranking unchanged', () => {
    for (const question of ['Where was Zhexa born?', 'Who was born on 14 September 1903?', 'Which company employs Fioix?']) {
      const all = (db.prepare('SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank').pluck().all(ftsQuery(question)) as number[]);
      const fast = retriever.search(question, 10).map((h) => h.passageId);
      expect(fast).toEqual(all.slice(0, fast.length));
      expect(fast.length).toBeGreaterThan(0);
    }
    // A query of only common words still finds passages, and k is filled by the common terms.
    expect(retriever.search('born was', 3).length).toBe(3);
    expect(retriever.search('Where was Zhexa born?', 3).map((h) => h.documentTitle)[0]).toBe('Zhexa Lohuys Sucott');
    expect(retriever.search('Where was Zhexa born?', 3)).toHaveLength(3);
  });

  it('gives answers only passages that share an informative term with the question', () => {
    // "born" is in every passage: its BM25 weight is zero, so it is no evidence for anything.
    expect(retriever.search('Where was Zhexa born?', 3)).toHaveLength(3);
    const evidence = retriever.search('Where was Zhexa born?', 3, { evidenceOnly: true });
    expect(evidence.map((h) => h.documentTitle)).toEqual(['Zhexa Lohuys Sucott']);
    expect(evidence[0]!.score).toBeGreaterThan(0.01);
    expect(retriever.search('Who was born?', 3, { evidenceOnly: true })).toEqual([]);
    expect(retriever.search('Who was born?', 3)).toHaveLength(3);
    // Two passages that hold a rare term, out of k = 3.
    expect(retriever.search('Who was born in September?', 3, { evidenceOnly: true }).map((h) => h.documentTitle).sort())
      .toEqual(['Fioix Rivielle Naington', 'Stigeius Shepeine Gicott']);
  });

  it('finds evidence in a knowledge base of a single passage', () => {
    const single = openDatabase(':memory:');
    new Importer(single, new DocumentStore(single, () => null)).importRecords([{ id: '1', title: 'Note', text: 'The ferry leaves at eight.' }]);
    const hits = new Bm25Retriever(single).search('When does the ferry leave?', 3, { evidenceOnly: true });
    expect(hits.map((h) => h.text)).toEqual(['The ferry leaves at eight.']);
    single.close();
  });

  it('finds evidence in a knowledge base of a few passages, where every name is in most of them', () => {
    const few = openDatabase(':memory:');
    new Importer(few, new DocumentStore(few, () => null)).importRecords([
      { id: '1', title: 'Brittany', text: 'Brittany Pierce is a character of Glee, played by Heather Morris. Brittany dances.' },
      { id: '2', title: 'Santana', text: 'Santana Lopez is a character of Glee and a friend of Brittany Pierce.' },
      { id: '3', title: 'Suzanne', text: 'Suzanne Warren is a character of another series.' },
    ]);
    const bm25 = new Bm25Retriever(few);
    // "brittany", "pierce" and "glee" are each in 2 of 3 passages: none is rarer than half.
    expect(bm25.search('Who plays Brittany Pierce in Glee?', 3, { evidenceOnly: true }).map((h) => h.documentTitle)).toEqual(['Brittany', 'Santana']);
    // "character" is in every passage: no evidence at all.
    expect(bm25.search('Which character?', 3, { evidenceOnly: true })).toEqual([]);
    few.close();
  });

  it('returns at most k passages', () => {
    expect(retriever.search('born', 2)).toHaveLength(2);
  });

  it.each([
    '"', '"""', 'NEAR(a b', 'title:zhexa', 'zhexa*', 'AND OR NOT', '(((', ')', '-zhexa', '^zhexa', '{title}: x', 'a" OR "b',
    '\u0000\u0001', '🙂🙂', 'Ｚｈｅｘａ', 'ﬁle', '\uD800', 'x'.repeat(10_000), 'the of and', '', '   ',
  ])('never throws on hostile query %j', (query) => {
    expect(() => retriever.search(query, 3)).not.toThrow();
  });

  it('treats operators as plain words and folds unicode forms', () => {
    expect(retriever.search('Ｚｈｅｘａ', 3)[0]?.documentTitle).toBe('Zhexa Lohuys Sucott');
    expect(retriever.search('title:zhexa OR', 3)[0]?.documentTitle).toBe('Zhexa Lohuys Sucott');
    expect(queryTerms('Where WAS the Zhexa, born?')).toEqual(['zhexa', 'born']);
    expect(ftsQuery('the of and')).toBeNull();
  });
});
