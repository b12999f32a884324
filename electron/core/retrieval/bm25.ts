// BM25 retrieval through SQLite FTS5 (Okapi BM25, k1 = 1.2, b = 0.75, over title + text).
// User text is never handed to FTS5's query parser: it is reduced to alphanumeric terms, stop
// words dropped, each term quoted and OR-ed, so quotes, operators, column filters or odd
// unicode can never throw or change the query's meaning.
import type { SearchHit } from '../../shared/types.js';
import type { Db } from '../database/database.js';

const STOP_WORDS = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'did', 'do', 'does', 'for', 'from', 'had', 'has', 'have', 'how', 'i',
  'in', 'is', 'it', 'its', 'of', 'on', 'or', 'that', 'the', 'this', 'to', 'was', 'were', 'what', 'when', 'where', 'which',
  'who', 'whom', 'whose', 'why', 'will', 'with',
]);

const MAX_TERMS = 64;

/** The query's search terms: lowercase letters/digits runs (any script), without stop words. */
export function queryTerms(text: string): string[] {
  const terms: string[] = [];
  const seen = new Set<string>();
  for (const match of text.normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const term = match[0];
    if (STOP_WORDS.has(term) || seen.has(term)) continue;
    seen.add(term);
    terms.push(term);
    if (terms.length === MAX_TERMS) break;
  }
  return terms;
}

/** An FTS5 MATCH expression for the terms, or null when nothing is searchable. */
export function ftsQuery(text: string): string | null {
  const terms = queryTerms(text);
  return terms.length ? terms.map((t) => `"${t}"`).join(' OR ') : null;
}

export class Bm25Retriever {
  private readonly statement;

  constructor(db: Db) {
    // bm25() is lower-is-better in FTS5; we negate it so a larger score means more relevant.
    this.statement = db.prepare(`
      SELECT f.rowid AS passage_id, -bm25(passages_fts) AS score,
        snippet(passages_fts, 1, '[[', ']]', '…', 24) AS snippet,
        p.document_id, p.position, p.text, d.title AS document_title
      FROM passages_fts f
      JOIN passages p ON p.id = f.rowid
      JOIN documents d ON d.id = p.document_id
      WHERE passages_fts MATCH ?
      ORDER BY bm25(passages_fts), f.rowid
      LIMIT ?`);
  }

  /** The top-k passages for `query`, best first; [] when the query has no searchable term. */
  search(query: string, k: number): SearchHit[] {
    const match = ftsQuery(query);
    if (!match || k <= 0) return [];
    const rows = this.statement.all(match, k) as {
      passage_id: number; score: number; snippet: string; document_id: number; position: number; text: string; document_title: string;
    }[];
    return rows.map((r) => ({
      passageId: r.passage_id,
      documentId: r.document_id,
      documentTitle: r.document_title,
      position: r.position,
      score: r.score,
      snippet: r.snippet,
      text: r.text,
    }));
  }
}
