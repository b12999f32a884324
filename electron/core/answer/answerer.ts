// Retrieve, update, generate (DESIGN §1): the top-k BM25 passages are either put in the prompt
// (context), applied as their LoRA adapters with scale 1 each (parametric), both (combine), or
// adapters where they exist and text for the rest (auto). Closed-book uses neither.
import type { AnswerMode, AnswerSource, PassageUse, SearchHit } from '../../shared/types.js';
import { ParamKbError } from '../../shared/errors.js';
import { extractAnswer } from '../eval/metrics.js';
import type { AdapterApplication } from '../llm/loraBinding.js';
import type { GenerationResult, LlmRuntime } from '../llm/llmRuntime.js';
import { renderQuestion } from '../llm/promptProfile.js';
import type { Bm25Retriever } from '../retrieval/bm25.js';

/** Where answers find adapters; the encoding pipeline provides it. */
export interface AdapterSource {
  /** Absolute paths of the usable adapters of these passages for the loaded base model. */
  adaptersFor(passageIds: number[]): Map<number, string>;
  /** Called with retrieved passages that have no adapter yet, to move them up the queue. */
  requestEncoding(passageIds: number[]): void;
}

export interface AnswerOptions {
  question: string;
  mode: AnswerMode;
  /** Passages retrieved. Default 3. */
  k?: number;
  /** Default 64. */
  maxTokens?: number;
  /**
   * Scale of each applied adapter. 1 applies it as trained (DESIGN §1); a smaller scale softens
   * adapters next to passages in the prompt. Default: COMBINE_ADAPTER_SCALE in combine, else 1.
   */
  adapterScale?: number;
  /** See adapterScales. Default DEFAULT_RELEVANCE_EXPONENT. */
  relevanceExponent?: number;
  signal?: AbortSignal;
  onText?: (delta: string) => void;
}

export interface AnswerResult {
  /** The whole generation. */
  text: string;
  /** The short answer: the text after the profile's answer prefix. */
  answer: string;
  sources: AnswerSource[];
  /** The adapters applied, with their scales. */
  adapters: AdapterApplication[];
  retrievalMs: number;
  generation: GenerationResult;
}

export class AnswerNotPossibleError extends ParamKbError {
  override name = 'AnswerNotPossibleError';
}

/** How each retrieved passage is used in a mode, given which passages have adapters. */
export function planPassageUse(mode: AnswerMode, hits: SearchHit[], adapters: Map<number, string>): { hit: SearchHit; use: PassageUse }[] {
  const plan: { hit: SearchHit; use: PassageUse }[] = [];
  for (const hit of hits) {
    const has = adapters.has(hit.passageId);
    switch (mode) {
      case 'closed-book': break;
      case 'context': plan.push({ hit, use: 'context' }); break;
      case 'parametric': if (has) plan.push({ hit, use: 'adapter' }); break;
      case 'combine': plan.push({ hit, use: has ? 'both' : 'context' }); break;
      case 'auto': plan.push({ hit, use: has ? 'adapter' : 'context' }); break;
    }
  }
  return plan;
}

/**
 * Adapters next to their passages in the prompt (combine) are applied at this scale: the
 * passage already gives the facts, and full-strength adapters pull the reading towards other
 * passages' facts (world dev split, README "Answer quality").
 */
export const COMBINE_ADAPTER_SCALE = 0.25;

/** The adapter scale a mode applies when the caller gives none. */
export function defaultAdapterScale(mode: AnswerMode): number {
  return mode === 'combine' ? COMBINE_ADAPTER_SCALE : 1;
}

/** Tuned on the world dev split (README, "Answer quality"); 0 gives the paper's equal scales. */
export const DEFAULT_RELEVANCE_EXPONENT = 3;

/**
 * The scale of each applied adapter: `scale * (score / best) ^ exponent`, from the BM25 scores
 * of their passages, where `best` is the best score retrieved for the question (that passage
 * may be in the prompt instead). The paper sums the top-k adapters with equal scales, but
 * summed adapters interfere: a passage retrieved for a shared first name pushes its own facts
 * into the answer. Damping adapters by their relative relevance keeps the best passage's
 * adapter whole and fades the weaker ones.
 */
export function adapterScales(scores: number[], best: number, scale: number, exponent: number): number[] {
  return scores.map((s) => (best > 0 ? scale * Math.pow(Math.min(1, Math.max(0, s) / best), exponent) : scale));
}

export class Answerer {
  constructor(
    private readonly retriever: Bm25Retriever,
    private readonly runtime: () => LlmRuntime,
    private readonly adapterSource: AdapterSource | null,
  ) {}

  async answer(options: AnswerOptions): Promise<AnswerResult> {
    const question = options.question.trim();
    if (!question) throw new AnswerNotPossibleError('empty-question', 'Type a question first.');
    const runtime = this.runtime();
    const k = options.k ?? 3;

    const retrievalStarted = performance.now();
    const hits = options.mode === 'closed-book' ? [] : this.retriever.search(question, k);
    const retrievalMs = performance.now() - retrievalStarted;

    const needsAdapters = options.mode === 'parametric' || options.mode === 'combine' || options.mode === 'auto';
    const adapterPaths = needsAdapters && this.adapterSource ? this.adapterSource.adaptersFor(hits.map((h) => h.passageId)) : new Map<number, string>();
    const missing = hits.filter((h) => !adapterPaths.has(h.passageId)).map((h) => h.passageId);
    if (needsAdapters && missing.length > 0) this.adapterSource?.requestEncoding(missing);
    if (options.mode === 'parametric' && hits.length > 0 && adapterPaths.size === 0) {
      throw new AnswerNotPossibleError('no-adapters', 'None of the passages found for this question has an adapter yet. Wait for encoding (Knowledge), or ask in auto or context mode.');
    }

    const plan = planPassageUse(options.mode, hits, adapterPaths);
    const inPrompt = plan.filter((p) => p.use !== 'adapter').map((p) => p.hit.text);
    const applied = plan.filter((p) => p.use !== 'context');
    const best = Math.max(0, ...hits.map((h) => h.score));
    const scales = adapterScales(applied.map((p) => p.hit.score), best, options.adapterScale ?? defaultAdapterScale(options.mode), options.relevanceExponent ?? DEFAULT_RELEVANCE_EXPONENT);
    const adapters: AdapterApplication[] = applied.map((p, i) => ({ filePath: adapterPaths.get(p.hit.passageId)!, scale: scales[i]! }));

    const tokens = runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, question, inPrompt) }]);
    const generation = await runtime.generate({ tokens, adapters, maxTokens: options.maxTokens ?? 64, signal: options.signal, onText: options.onText });
    return {
      text: generation.text,
      answer: extractAnswer(generation.text, runtime.profile.answer_prefix),
      sources: plan.map(({ hit, use }) => ({
        passageId: hit.passageId, documentId: hit.documentId, documentTitle: hit.documentTitle, text: hit.text, score: hit.score, usedAs: use,
      })),
      adapters,
      retrievalMs,
      generation,
    };
  }
}
