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
  return matchExpression(queryTerms(text));
}

function matchExpression(terms: string[]): string | null {
  return terms.length ? terms.map((t) => `"${t}"`).join(' OR ') : null;
}

export class Bm25Retriever {
  private readonly topStatement;
  private readonly detailStatement;
  private readonly documentFrequency;
  private readonly passageCount;

  constructor(db: Db) {
    this.documentFrequency = db.prepare('SELECT doc FROM passages_vocab WHERE term = ?').pluck();
    this.passageCount = db.prepare('SELECT COUNT(*) FROM passages').pluck();
    // Rank first, on the FTS table alone, and only then join and make snippets for the k rows
    // kept: joining or calling snippet() for every matching row costs more than the ranking.
    // FTS5's rank is bm25(), lower-is-better; scores are negated so larger means more relevant.
    this.topStatement = db.prepare('SELECT rowid AS passage_id, rank FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?');
    this.detailStatement = db.prepare(`
      SELECT f.rowid AS passage_id, snippet(passages_fts, 1, '[[', ']]', '…', 24) AS snippet,
        p.document_id, p.position, p.text, d.title AS document_title
      FROM passages_fts f
      JOIN passages p ON p.id = f.rowid
      JOIN documents d ON d.id = p.document_id
      WHERE passages_fts MATCH ? AND f.rowid IN (SELECT value FROM json_each(?))`);
  }

  /**
   * The query's terms that tell passages apart: those in at most half of all passages (or in
   * one, in a knowledge base of one or two). FTS5's BM25 gives the others an IDF of (almost)
   * zero, so they cannot change the ranking, but their posting lists dominate the query's cost.
   */
  private informativeTerms(terms: string[]): { informative: string[]; discriminating: string[]; rarest: string } {
    const passages = this.passageCount.get() as number;
    const limit = Math.max(1, passages / 2);
    const counted = terms.map((term) => ({ term, df: (this.documentFrequency.get(term) as number | undefined) ?? 0 }));
    return {
      informative: counted.filter((t) => t.df > 0 && t.df <= limit).map((t) => t.term),
      discriminating: counted.filter((t) => t.df > 0 && t.df < passages).map((t) => t.term),
      rarest: counted.reduce((a, b) => (b.df < a.df ? b : a)).term,
    };
  }

  /**
   * The top-k passages for `query`, best first; [] when the query has no searchable term.
   * With `evidenceOnly`, only passages that hold at least one informative term: a passage that
   * shares nothing with the question but words found in most passages has a BM25 score of
   * zero, and is no evidence for an answer. Without it (the search box), k is filled by the
   * common terms too.
   */
  search(query: string, k: number, options: { evidenceOnly?: boolean } = {}): SearchHit[] {
    const { ranked, match } = this.rank(query, k, options);
    return this.hits(ranked, match);
  }

  /**
   * The top-k passage ids and scores for `query`, best first, without their text (what fusion
   * needs), and the MATCH expression that ranked them (for `hits`). Options as for `search`.
   */
  rank(query: string, k: number, options: { evidenceOnly?: boolean } = {}): { ranked: { passageId: number; score: number }[]; match: string | null } {
    const terms = queryTerms(query);
    if (terms.length === 0 || k <= 0) return { ranked: [], match: null };
    const { informative, discriminating, rarest } = this.informativeTerms(terms);
    // With no informative term: evidence is a passage holding a term that not every passage
    // holds (in a knowledge base of a few passages, a name can be in most of them and still tell
    // them apart by its frequency); the search box shows the passages of the rarest term.
    const ranking = informative.length > 0 ? informative : options.evidenceOnly ? discriminating : [rarest];
    if (ranking.length === 0) return { ranked: [], match: null };
    let match = matchExpression(ranking)!;
    let top = this.topStatement.all(match, k) as { passage_id: number; rank: number }[];
    // Fewer than k passages hold a rare term: the common terms decide the rest, as in full BM25.
    if (!options.evidenceOnly && top.length < k && ranking.length < terms.length) {
      match = matchExpression(terms)!;
      top = this.topStatement.all(match, k) as { passage_id: number; rank: number }[];
    }
    return { ranked: top.map((t) => ({ passageId: t.passage_id, score: -t.rank })), match };
  }

  /** Search hits, with snippets marked by `match`, for passages `rank` returned (scores as given). */
  hits(ranked: { passageId: number; score: number }[], match: string | null): SearchHit[] {
    if (ranked.length === 0 || !match) return [];
    const details = new Map((this.detailStatement.all(match, JSON.stringify(ranked.map((t) => t.passageId))) as {
      passage_id: number; snippet: string; document_id: number; position: number; text: string; document_title: string;
    }[]).map((d) => [d.passage_id, d]));
    return ranked.flatMap((t) => {
      const d = details.get(t.passageId);
      return d ? [{
        passageId: t.passageId,
        documentId: d.document_id,
        documentTitle: d.document_title,
        position: d.position,
        score: t.score,
        snippet: d.snippet,
        text: d.text,
      }] : [];
    });
  }
}
