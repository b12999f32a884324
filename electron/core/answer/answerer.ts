// Retrieve, update, generate (DESIGN §1): the top-k BM25 passages are either put in the prompt
// (context), applied as their LoRA adapters (parametric), both (combine: each answers and the
// likelier answer is kept; one-pass: the paper's combine, adapters applied while the passages
// are in the prompt), or adapters where they exist and text for the rest (auto). Closed-book
// uses neither. Every answer starts with the profile's answer prefix, written into the prompt
// (see answerPrefill).
import type { Token } from 'node-llama-cpp';
import type { AnswerMode, AnswerSource, CombineCandidates, PassageUse, SearchHit } from '../../shared/types.js';
import { ParamKbError } from '../../shared/errors.js';
import type { AdapterApplication } from '../llm/loraBinding.js';
import type { GenerationResult, LlmRuntime } from '../llm/llmRuntime.js';
import { extractAnswer, renderQuestion, type PromptProfile } from '../llm/promptProfile.js';
import type { RetrieveOptions, Retrieval, Retriever } from '../retrieval/retriever.js';

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
  /** Scale of each applied adapter, before relevance damping. Default 1: as trained (DESIGN §1). */
  adapterScale?: number;
  /** See adapterScales. Default DEFAULT_RELEVANCE_EXPONENT. */
  relevanceExponent?: number;
  /** How passages are found (Retriever.retrieve). Default: hybrid with the 'auto' hop, BM25 without an embedding model. */
  retrieval?: RetrieveOptions;
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
  /** The retrieval method that ran and the name its second hop followed (null: no hop). */
  retrieval: Pick<Retrieval, 'method' | 'bridge'>;
  /** In combine, the two answers' generations together: the kept text, summed counts and timings (scoring counts as prompt time). */
  generation: GenerationResult;
  /** Combine only: the answer from the passages, the one from the adapters, and which was kept. */
  candidates?: CombineCandidates;
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
      case 'combine': case 'one-pass': plan.push({ hit, use: has ? 'both' : 'context' }); break;
      case 'auto': plan.push({ hit, use: has ? 'adapter' : 'context' }); break;
    }
  }
  return plan;
}

/** Tuned on the world dev split (docs/results.md); 0 gives the paper's equal scales. */
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

/**
 * The start of every answer, written into the prompt for the model to continue: the profile's
 * answer prefix ("The answer is"), as the training sequences write answers. Small instruct
 * models otherwise open with their own phrasing or ramble, and the short answer cannot be found.
 */
export function answerPrefill(profile: PromptProfile): string {
  return profile.answer_prefix.trimEnd();
}

export class Answerer {
  constructor(
    private readonly retriever: Retriever,
    private readonly runtime: () => LlmRuntime,
    private readonly adapterSource: AdapterSource | null,
  ) {}

  async answer(options: AnswerOptions): Promise<AnswerResult> {
    const question = options.question.trim();
    if (!question) throw new AnswerNotPossibleError('empty-question', 'Type a question first.');
    const runtime = this.runtime();
    const k = options.k ?? 3;

    const retrievalStarted = performance.now();
    // Only passages that matched the question: a BM25 score of zero is no evidence.
    const retrieval: Retrieval = options.mode === 'closed-book'
      ? { hits: [], method: 'bm25', bridge: null }
      : await this.retriever.retrieve(question, k, { ...options.retrieval, evidenceOnly: true });
    const hits = retrieval.hits;
    const retrievalMs = performance.now() - retrievalStarted;

    const needsAdapters = options.mode !== 'context' && options.mode !== 'closed-book';
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
    const scales = adapterScales(applied.map((p) => p.hit.score), best, options.adapterScale ?? 1, options.relevanceExponent ?? DEFAULT_RELEVANCE_EXPONENT);
    const adapters: AdapterApplication[] = applied.map((p, i) => ({ filePath: adapterPaths.get(p.hit.passageId)!, scale: scales[i]! }));

    const prefill = answerPrefill(runtime.profile);
    const tokens = runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, question, inPrompt) }], prefill);
    const maxTokens = options.maxTokens ?? 64;
    let generation: GenerationResult;
    let candidates: CombineCandidates | undefined;
    if (options.mode === 'combine' && adapters.length > 0) {
      ({ generation, candidates } = await this.combine(runtime, question, tokens, adapters, maxTokens, options.signal));
      if (generation.text) options.onText?.(prefill + generation.text);
    } else {
      options.onText?.(prefill);
      generation = await runtime.generate({ tokens, adapters, maxTokens, signal: options.signal, onText: options.onText });
    }
    const text = prefill + generation.text;
    return {
      text,
      answer: extractAnswer(text, runtime.profile.answer_prefix),
      sources: plan.map(({ hit, use }) => ({
        passageId: hit.passageId, documentId: hit.documentId, documentTitle: hit.documentTitle, text: hit.text, score: hit.score, usedAs: use,
      })),
      adapters,
      retrievalMs,
      retrieval: { method: retrieval.method, bridge: retrieval.bridge },
      generation,
      ...(candidates ? { candidates } : {}),
    };
  }

  /**
   * Combine: the passages answer in the prompt without adapters, the adapters answer the
   * question alone, and the answer kept is the one with the larger sum of its log-probabilities
   * under both (a product of the two experts). Each source can then overrule the other only by
   * being surer of its answer. The paper's one pass with both let the adapters pull the reading
   * of the passages towards other passages' facts, and never beat context on the world dev split
   * (docs/results.md).
   */
  private async combine(runtime: LlmRuntime, question: string, passagePrompt: Token[], adapters: AdapterApplication[], maxTokens: number, signal?: AbortSignal): Promise<{ generation: GenerationResult; candidates?: CombineCandidates }> {
    const adapterPrompt = runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, question, []) }], answerPrefill(runtime.profile));
    // A passages' prompt that fills the context fails with generate's error before the adapters'
    // answer is made.
    if (passagePrompt.length >= runtime.contextSize) return { generation: await runtime.generate({ tokens: passagePrompt, adapters: [], maxTokens, signal }) };
    // The adapters' answer first, token by token after their short prompt; it then drafts the
    // passages' one, whose long prompt is evaluated in one batch anyway: the draft rides in that
    // batch, where it costs little more than the prompt itself (nothing on CPUs that multiply
    // in blocks of rows, such as AMX's 32, when the prompt's last block has room). Drafting the
    // other way round added a second batch over the adapters' prompt. The runtime keeps each
    // prompt's KV cache on its own sequence (the adapters' with them, the passages' without), so
    // the scoring below evaluates no prompt again.
    const fromAdapters = await runtime.generate({ tokens: adapterPrompt, adapters, maxTokens, signal });
    if (fromAdapters.stopReason === 'cancelled') return { generation: fromAdapters };
    const { generation: fromPassages, agreed, draftLogProb } = await this.draftedAnswer(runtime, passagePrompt, [], fromAdapters, maxTokens, signal);
    const bothGenerations = (extraPromptMs: number, kept: GenerationResult): GenerationResult => ({
      ...kept,
      promptTokens: fromAdapters.promptTokens + fromPassages.promptTokens,
      evaluatedPromptTokens: fromAdapters.evaluatedPromptTokens + fromPassages.evaluatedPromptTokens,
      generatedTokens: fromAdapters.generatedTokens + fromPassages.generatedTokens,
      timings: {
        adapterMs: fromAdapters.timings.adapterMs + fromPassages.timings.adapterMs,
        promptMs: fromAdapters.timings.promptMs + fromPassages.timings.promptMs + extraPromptMs,
        generateMs: fromAdapters.timings.generateMs + fromPassages.timings.generateMs,
      },
    });
    if (agreed || fromPassages.stopReason === 'cancelled') {
      return { generation: bothGenerations(0, fromPassages), candidates: this.candidates(runtime, fromPassages, fromAdapters, null, 'passages') };
    }
    // An empty answer says nothing, yet a lone end of text is likely and a sum of log-probabilities
    // favours it: a source that gives no answer leaves the answer to the other, unscored.
    const passagesSaid = this.answerOf(runtime, fromPassages) !== '';
    if (passagesSaid !== (this.answerOf(runtime, fromAdapters) !== '')) {
      const kept = passagesSaid ? 'passages' : 'adapters';
      return { generation: bothGenerations(0, kept === 'passages' ? fromPassages : fromAdapters), candidates: this.candidates(runtime, fromPassages, fromAdapters, null, kept) };
    }
    const started = performance.now();
    // The adapters' answer was scored under the passages while checking it. No adapters are
    // applied now: the passages' scoring goes first.
    const passagesOnPassages = await runtime.continuationLogProb(passagePrompt, fromPassages.tokens, []);
    const passagesOnAdapters = await runtime.continuationLogProb(adapterPrompt, fromPassages.tokens, adapters);
    const adaptersOnAdapters = await runtime.continuationLogProb(adapterPrompt, fromAdapters.tokens, adapters);
    const scores = { passages: passagesOnPassages + passagesOnAdapters, adapters: draftLogProb + adaptersOnAdapters };
    // Ties go to the passages: their text is what the user can check.
    const kept = scores.adapters > scores.passages ? 'adapters' : 'passages';
    const generation = bothGenerations(performance.now() - started, kept === 'adapters' ? fromAdapters : fromPassages);
    return { generation, candidates: this.candidates(runtime, fromPassages, fromAdapters, scores, kept) };
  }

  /**
   * The greedy answer to `prompt` with `adapters`, drafted by another source's answer: one
   * batched pass over the prompt and the draft gives this source's own likeliest token at each
   * position, so it decodes token by token only from the first token where the two disagree
   * (speculative decoding's check, exact for greedy decoding). When the sources agree, as they
   * mostly do, combine costs one answer decoded token by token and the other's prompt instead of
   * two answers decoded one token at a time. Also returns the draft's log-probability under this
   * source, which the check computed.
   */
  private async draftedAnswer(runtime: LlmRuntime, prompt: Token[], adapters: AdapterApplication[], drafted: GenerationResult, maxTokens: number, signal?: AbortSignal): Promise<{ generation: GenerationResult; agreed: boolean; draftLogProb: number }> {
    // The longest this source can write in its context (generate stops there too); a prompt
    // that fills the context fails in generate with its own error.
    const limit = Math.min(maxTokens, runtime.contextSize - prompt.length);
    if (limit <= 0) return { generation: await runtime.generate({ tokens: prompt, adapters, maxTokens, signal }), agreed: false, draftLogProb: 0 };
    const applying = performance.now();
    await runtime.setAdapters(adapters);
    const adapterMs = performance.now() - applying;
    const started = performance.now();
    const draft = drafted.tokens;
    const check = await runtime.checkContinuation(prompt, draft.slice(0, runtime.contextSize - prompt.length), adapters);
    const checkedMs = performance.now() - started;
    let same = 0;
    while (same < check.greedy.length && check.greedy[same] === draft[same]) same++;
    const timings = { adapterMs, promptMs: checkedMs, generateMs: 0 };
    const result = (tokens: Token[], stopReason: GenerationResult['stopReason']): GenerationResult => {
      const generated = tokens.filter((t) => !runtime.isEndOfGeneration(t)).length;
      return { text: runtime.detokenize(tokens), tokens, promptTokens: prompt.length, evaluatedPromptTokens: prompt.length, generatedTokens: generated, stopReason, timings };
    };
    const written = draft.filter((t) => !runtime.isEndOfGeneration(t)).length;
    if (same === draft.length && written <= limit) {
      // This source's greedy decoding writes the draft, to its end or its cut-off.
      return { generation: result(draft, drafted.stopReason), agreed: true, draftLogProb: check.logProb };
    }
    // The first token where this source disagrees is its own; it goes on from there.
    const start = draft.slice(0, Math.min(same, limit));
    if (same < check.greedy.length && start.length < limit) start.push(check.greedy[same]!);
    const last = start[start.length - 1];
    if (last !== undefined && runtime.isEndOfGeneration(last)) return { generation: result(start, 'eos'), agreed: false, draftLogProb: check.logProb };
    if (start.length >= limit) return { generation: result(start, 'max-tokens'), agreed: false, draftLogProb: check.logProb };
    const rest = await runtime.generate({ tokens: prompt.concat(start), adapters, maxTokens: maxTokens - start.length, signal });
    const generation = result(start.concat(rest.tokens), rest.stopReason);
    generation.timings = { adapterMs: adapterMs + rest.timings.adapterMs, promptMs: checkedMs + rest.timings.promptMs, generateMs: rest.timings.generateMs };
    return { generation, agreed: false, draftLogProb: check.logProb };
  }

  /** The short answer of a generation, as the user is shown it. */
  private answerOf(runtime: LlmRuntime, generation: GenerationResult): string {
    return extractAnswer(answerPrefill(runtime.profile) + generation.text, runtime.profile.answer_prefix);
  }

  private candidates(runtime: LlmRuntime, fromPassages: GenerationResult, fromAdapters: GenerationResult, scores: { passages: number; adapters: number } | null, kept: CombineCandidates['kept']): CombineCandidates {
    return {
      passages: { answer: this.answerOf(runtime, fromPassages), logProb: scores?.passages ?? null },
      adapters: { answer: this.answerOf(runtime, fromAdapters), logProb: scores?.adapters ?? null },
      kept,
    };
  }
}
