// Retrieval for answers and the Knowledge view's search: BM25, vector similarity, or both fused
// (hybrid), and a second hop for questions whose answer lies in a passage they do not name
// (secondHop.ts). Without an embedding model, hybrid is BM25 alone.
import { ParamKbError } from '../../shared/errors.js';
import type { HopPolicy, RetrievalMethod, SearchHit } from '../../shared/types.js';
import type { DocumentStore } from '../database/documentStore.js';
import type { Bm25Retriever } from './bm25.js';
import type { EmbeddingTarget } from './embeddingQueue.js';
import { answersAlone, bridgeEntities, hopQuery, mergeHops, titleNamedByQuestion } from './secondHop.js';
import type { VectorStore } from './vectorStore.js';

/** How hybrid retrieval fuses the two rankings (see fuseRankings). */
export type FusionMethod = 'rrf' | 'convex';

export interface RetrieveOptions {
  /** Default: 'hybrid' (BM25 alone while no embedding model is loaded). */
  method?: RetrievalMethod;
  /** Default 'auto': see Retriever.shouldHop. */
  hop?: HopPolicy;
  /** Default DEFAULT_FUSION. */
  fusion?: FusionMethod;
  /** BM25 keeps only passages that share an informative term with the query (Bm25Retriever.search). Default false. */
  evidenceOnly?: boolean;
}

export interface Retrieval {
  hits: SearchHit[];
  /** The method that ran: 'hybrid' asked without an embedding model runs as 'bm25'. */
  method: RetrievalMethod;
  /** The name the second hop followed, or null when there was no hop. */
  bridge: string | null;
}

/** Chosen on the world and HotpotQA dev splits (docs/results.md, 2026-12-02). */
export const DEFAULT_FUSION: FusionMethod = 'convex';
/** Weight of BM25 in the convex fusion; the vector similarity has the rest. */
export const CONVEX_BM25_WEIGHT = 0.5;
/** RRF's rank offset (Cormack et al. 2009). */
const RRF_OFFSET = 60;
/** Names of the first passage whose hop is tried; the best-found one is followed. */
const HOP_CANDIDATES = 3;

export interface RankedId { passageId: number; score: number }

/**
 * Fuses a BM25 and a vector ranking into one, best first, with fused scores scaled so the best
 * is 1. 'rrf': the sum of 1 / (60 + rank) over the lists that hold a passage. 'convex':
 * w * BM25 / best BM25 + (1 - w) * the similarity min-max scaled over the vector list; a passage
 * missing from a list gets 0 from it. Ties keep BM25's order.
 */
export function fuseRankings(bm25: RankedId[], vector: RankedId[], fusion: FusionMethod, bm25Weight = CONVEX_BM25_WEIGHT): RankedId[] {
  const fused = new Map<number, number>();
  const add = (id: number, value: number) => fused.set(id, (fused.get(id) ?? 0) + value);
  if (fusion === 'rrf') {
    bm25.forEach((h, i) => add(h.passageId, 1 / (RRF_OFFSET + i + 1)));
    vector.forEach((h, i) => add(h.passageId, 1 / (RRF_OFFSET + i + 1)));
  } else {
    const best = Math.max(0, ...bm25.map((h) => h.score));
    for (const h of bm25) add(h.passageId, best > 0 ? bm25Weight * Math.max(0, h.score) / best : 0);
    const high = Math.max(...vector.map((h) => h.score));
    const low = Math.min(...vector.map((h) => h.score));
    for (const h of vector) add(h.passageId, (1 - bm25Weight) * (high > low ? (h.score - low) / (high - low) : 1));
  }
  const order = new Map([...bm25, ...vector].map((h, i) => [h.passageId, i]));
  const ranked = [...fused].map(([passageId, score]) => ({ passageId, score })).sort((a, b) => b.score - a.score || order.get(a.passageId)! - order.get(b.passageId)!);
  const top = ranked[0]?.score ?? 0;
  return ranked.map((r) => ({ passageId: r.passageId, score: top > 0 ? r.score / top : 0 }));
}

export class Retriever {
  constructor(
    private readonly bm25: Bm25Retriever,
    private readonly vectors: VectorStore,
    private readonly documents: DocumentStore,
    private readonly embedding: () => EmbeddingTarget | null,
  ) {}

  /** The top-k passages for a question, with a second hop where the policy calls for one. */
  async retrieve(query: string, k: number, options: RetrieveOptions = {}): Promise<Retrieval> {
    const asked = options.method ?? 'hybrid';
    const method = asked === 'hybrid' && !this.embedding() ? 'bm25' : asked;
    const fusion = options.fusion ?? DEFAULT_FUSION;
    const evidence = { evidenceOnly: options.evidenceOnly ?? false };
    const first = await this.rank(query, k, method, fusion, evidence);
    const policy = options.hop ?? 'auto';
    if (policy === 'never' || first.length === 0) return { hits: first, method, bridge: null };
    const named = first.map((h) => titleNamedByQuestion(query, h.documentTitle));
    // 'always' reads the best passage; 'auto' the best passage whose title the question names.
    const from = policy === 'always' ? 0 : named.indexOf(true);
    const top = first[from];
    if (!top) return { hits: first, method, bridge: null };
    const entities = bridgeEntities(query, { title: top.documentTitle, text: top.text });
    if (policy === 'auto' && !Retriever.shouldHop(entities, named.filter(Boolean).length, answersAlone(query, { title: top.documentTitle, text: top.text }))) return { hits: first, method, bridge: null };
    const firstIds = new Set(first.map((h) => h.passageId));
    // Among the names whose sentences share the most words with the question, follow the one
    // whose own search finds the strongest new BM25 match: a full name that a passage is about
    // beats a word that many passages share.
    const bestOverlap = entities[0]?.overlap ?? 0;
    let chosen: { name: string; query: string; score: number } | null = null;
    for (const entity of entities.filter((e) => e.overlap === bestOverlap).slice(0, HOP_CANDIDATES)) {
      const found = this.bm25.rank(entity.name, k + first.length).ranked.find((h) => !firstIds.has(h.passageId));
      if (found && (!chosen || found.score > chosen.score)) chosen = { name: entity.name, query: hopQuery(query, entity.name, top.documentTitle), score: found.score };
    }
    if (!chosen) return { hits: first, method, bridge: null };
    const ranked = await this.rank(chosen.query, k + first.length, method, fusion, evidence);
    const best = ranked[0]?.score ?? 0;
    // Scaled so the hop's best passage weighs as much as the first hop's best: it is the
    // passage the question leads to, not a weaker match for the question's words.
    const hop = ranked.filter((h) => !firstIds.has(h.passageId)).slice(0, 1)
      .map((h) => ({ ...h, score: best > 0 ? top.score * (h.score / best) : top.score, via: chosen.name }));
    return { hits: mergeHops(first, from, hop, k), method, bridge: chosen.name };
  }

  /**
   * When 'auto' hops (measured on the world and HotpotQA dev splits, docs/results.md,
   * 2026-12-02): when exactly one first passage has a title the question names (the question is
   * about that one thing; two or more: it compares them, and the first hop holds them all), and
   * that passage introduces a name in a sentence sharing a word with the question, and no one
   * sentence of it holds all the question asks (then it answers alone: hopping to the answer's
   * own passage made the world model answer from it, 3 of 50 single questions lost). Hopping
   * from a passage that only shares the question's words, as 'always' does, lowered HotpotQA's
   * recall.
   */
  static shouldHop(entities: { overlap: number }[], titledPassages: number, answeredAlone: boolean): boolean {
    return titledPassages === 1 && !answeredAlone && (entities[0]?.overlap ?? 0) >= 1;
  }

  /** One ranking by `method`, without a hop. */
  async rank(query: string, k: number, method: RetrievalMethod, fusion: FusionMethod = DEFAULT_FUSION, evidence: { evidenceOnly?: boolean } = {}): Promise<SearchHit[]> {
    if (k <= 0) return [];
    if (method === 'bm25') return this.bm25.search(query, k, evidence);
    const target = this.embedding();
    if (!target) throw new ParamKbError('no-embedding-model', 'Vector search needs an embedding model: download or open one in Models.');
    const pool = Math.max(20, 4 * k);
    const vectorHits = this.vectors.search(target.model, await target.runtime.embed(query), method === 'vector' ? k : pool)
      .map((h) => ({ passageId: h.passageId, score: h.similarity }));
    if (method === 'vector') return this.hitsFor(vectorHits, new Set(), null);
    // Ids and scores only: the text and snippets are read for the k passages kept.
    const bm25 = this.bm25.rank(query, pool, evidence);
    const fused = fuseRankings(bm25.ranked, vectorHits, fusion).slice(0, k);
    return this.hitsFor(fused, new Set(bm25.ranked.map((h) => h.passageId)), bm25.match);
  }

  /** Search hits for ranked ids: BM25's (with marked snippets) for those it matched, the stored text for the rest. */
  private hitsFor(ranked: RankedId[], matched: Set<number>, match: string | null): SearchHit[] {
    const byBm25 = new Map(this.bm25.hits(ranked.filter((r) => matched.has(r.passageId)), match).map((h) => [h.passageId, h]));
    const stored = new Map(this.documents.passagesByIds(ranked.filter((r) => !byBm25.has(r.passageId)).map((r) => r.passageId)).map((p) => [p.id, p]));
    return ranked.flatMap((r): SearchHit[] => {
      const hit = byBm25.get(r.passageId);
      if (hit) return [hit];
      const p = stored.get(r.passageId);
      return p ? [{ passageId: p.id, documentId: p.documentId, documentTitle: p.documentTitle, position: p.position, score: r.score, snippet: snippetOf(p.text), text: p.text }] : [];
    });
  }
}

/** A passage's opening as its snippet, for hits without BM25's marked snippet. */
function snippetOf(text: string): string {
  const words = text.split(/\s+/);
  return words.length > 24 ? `${words.slice(0, 24).join(' ')}…` : text;
}
