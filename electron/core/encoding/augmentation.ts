// Document augmentation (DESIGN §1, step 1): the base model rewrites a passage once and writes
// three question/answer pairs about it, through the model's prompt profile. The QA output is
// parsed tolerantly; a bad output is retried with sampling and another seed a bounded number of
// times, then the pipeline goes on with fewer pairs and a recorded warning. It never throws on
// model output and never loops forever.
import type { LlmRuntime } from '../llm/llmRuntime.js';
import { renderQaGenerationPrompt, renderRewritePrompt } from '../llm/promptProfile.js';

export interface QaPair {
  question: string;
  answer: string;
  full_answer?: string;
}

export interface Augmentation {
  rewrite: string | null;
  qa: QaPair[];
  warnings: string[];
}

export interface AugmentOptions {
  /** QA pairs wanted. Default 3. */
  qaCount?: number;
  /** Generations tried per output before giving up. Default 3 (greedy, then 2 sampled). */
  attempts?: number;
  /** Token budget of the rewrite; default twice the passage's tokens, at least 64. */
  rewriteMaxTokens?: number;
  /** Token budget of the QA list (three pairs take 150-200 tokens). Default 256. */
  qaMaxTokens?: number;
  signal?: AbortSignal;
  /** Called for each piece of text generated (about one per token), to report progress. */
  onToken?: () => void;
}

/** The tokens the first attempts at a rewrite and at the QA list may write, as augmentPassage budgets them. */
export function augmentationTokenBudget(runtime: LlmRuntime, passage: string, options: Pick<AugmentOptions, 'rewriteMaxTokens' | 'qaMaxTokens'> = {}): number {
  return (options.rewriteMaxTokens ?? Math.max(64, runtime.tokenize(passage).length * 2)) + (options.qaMaxTokens ?? 256);
}

/** Pulls QA pairs out of model text: a JSON list, or JSON objects scattered in prose. */
export function parseQaPairs(text: string): QaPair[] {
  const candidates: unknown[] = [];
  const start = text.indexOf('[');
  const end = text.lastIndexOf(']');
  if (start >= 0 && end > start) {
    try {
      const list = JSON.parse(text.slice(start, end + 1)) as unknown;
      if (Array.isArray(list)) candidates.push(...list);
    } catch { /* fall through to object-by-object parsing */ }
  }
  if (candidates.length === 0) {
    for (const match of text.matchAll(/\{[^{}]*\}/g)) {
      try { candidates.push(JSON.parse(match[0])); } catch { /* skip a damaged object */ }
    }
  }
  const pairs: QaPair[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (typeof c !== 'object' || c === null) continue;
    const o = c as Record<string, unknown>;
    const question = typeof o.question === 'string' ? o.question.trim() : '';
    const answer = typeof o.answer === 'string' ? o.answer.trim() : typeof o.answer === 'number' ? String(o.answer) : '';
    if (!question || !answer || question.length > 500 || answer.length > 300 || seen.has(question.toLowerCase())) continue;
    seen.add(question.toLowerCase());
    const pair: QaPair = { question, answer };
    if (typeof o.full_answer === 'string' && o.full_answer.trim()) pair.full_answer = o.full_answer.trim();
    pairs.push(pair);
  }
  return pairs;
}

/** A rewrite is usable when it ended, is not empty and is not a copy of the passage. */
function usableRewrite(text: string, passage: string, stopReason: string): boolean {
  const t = text.trim();
  return stopReason === 'eos' && t.length >= Math.min(40, passage.length / 3) && t !== passage.trim();
}

function samplingFor(attempt: number): { temperature: number; seed: number } | undefined {
  return attempt === 0 ? undefined : { temperature: 0.7, seed: 1000 + attempt };
}

export async function augmentPassage(runtime: LlmRuntime, passage: string, options: AugmentOptions = {}): Promise<Augmentation> {
  const qaCount = options.qaCount ?? 3;
  const attempts = Math.max(1, options.attempts ?? 3);
  const warnings: string[] = [];
  const passageTokens = runtime.tokenize(passage).length;

  // Rewrite and QA generation are independent: on a runtime with several sequences they are
  // evaluated together in one batch.
  const makeRewrite = async (): Promise<string | null> => {
    const prompt = runtime.promptTokens([{ role: 'user', content: renderRewritePrompt(runtime.profile, passage) }]);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const result = await runtime.generate({
        tokens: prompt, maxTokens: options.rewriteMaxTokens ?? Math.max(64, passageTokens * 2), signal: options.signal, sampling: samplingFor(attempt), onText: options.onToken,
      });
      if (usableRewrite(result.text, passage, result.stopReason)) return result.text.trim();
    }
    warnings.push(`no usable rewrite after ${attempts} attempts; training uses the passage alone`);
    return null;
  };
  const makeQa = async (): Promise<QaPair[]> => {
    const prompt = runtime.promptTokens([{ role: 'user', content: renderQaGenerationPrompt(runtime.profile, passage) }]);
    let qa: QaPair[] = [];
    for (let attempt = 0; attempt < attempts && qa.length < qaCount; attempt++) {
      const result = await runtime.generate({ tokens: prompt, maxTokens: options.qaMaxTokens ?? 256, signal: options.signal, sampling: samplingFor(attempt), onText: options.onToken });
      // Keep the pairs found so far, topped up with new questions from later attempts.
      const known = new Set(qa.map((p) => p.question.toLowerCase()));
      qa = [...qa, ...parseQaPairs(result.text).filter((p) => !known.has(p.question.toLowerCase()))].slice(0, qaCount);
    }
    if (qa.length < qaCount) warnings.push(`${qa.length} of ${qaCount} QA pairs after ${attempts} attempts`);
    return qa;
  };
  const [rewrite, qa] = await Promise.all([makeRewrite(), makeQa()]);
  return { rewrite, qa, warnings };
}
