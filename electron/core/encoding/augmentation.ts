// Document augmentation (DESIGN §1, step 1): the base model rewrites a passage once and writes
// three question/answer pairs about it, through the model's prompt profile. The QA output is
// parsed tolerantly; a bad output is retried with sampling and another seed a bounded number of
// times, then the pipeline goes on with fewer pairs and a recorded warning. It never throws on
// model output and never loops forever.
import type { FieldChecks } from '../fieldChecks.js';
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
  /** Write the rewrite (next-token training uses it; distillation does not). Default true. */
  rewrite?: boolean;
  /** Token budget of the rewrite; default twice the passage's tokens, at least 64. */
  rewriteMaxTokens?: number;
  /** Token budget of the QA list (three pairs take 150-200 tokens). Default 256. */
  qaMaxTokens?: number;
  signal?: AbortSignal;
  /** Called for each piece of text generated (about one per token), to report progress. */
  onToken?: () => void;
  /** Awaited before each prompt and token (GenerateOptions.waitTurn). */
  waitTurn?: () => Promise<void> | undefined;
}

/** The tokens the first attempts at a rewrite and at the QA list may write, as augmentPassage budgets them. */
export function augmentationTokenBudget(runtime: LlmRuntime, passage: string, options: Pick<AugmentOptions, 'rewriteMaxTokens' | 'qaMaxTokens'> = {}): number {
  return (options.rewriteMaxTokens ?? Math.max(64, runtime.tokenize(passage).length * 2)) + (options.qaMaxTokens ?? 256);
}

/**
 * Checks an augmentation that comes from outside (a distributed encoding job or result, a
 * knowledge pack) against the limits parseQaPairs keeps; returns a clean copy.
 */
export function validateAugmentation(check: FieldChecks, path: string, value: unknown): Augmentation {
  const o = check.record(path, value, ['rewrite', 'qa', 'warnings']);
  const qa = check.list(`${path}.qa`, o.qa, 20, (p, v): QaPair => {
    const pair = check.record(p, v, ['question', 'answer'], ['full_answer']);
    const out: QaPair = { question: check.text(`${p}.question`, pair.question, 500, 1), answer: check.text(`${p}.answer`, pair.answer, 300, 1) };
    if (pair.full_answer !== undefined) out.full_answer = check.text(`${p}.full_answer`, pair.full_answer, 2000);
    return out;
  });
  return {
    rewrite: o.rewrite === null ? null : check.text(`${path}.rewrite`, o.rewrite, 100_000, 1),
    qa,
    warnings: check.list(`${path}.warnings`, o.warnings, 20, (p, v) => check.text(p, v, 1000)),
  };
}

/**
 * "Q: ... / A: ..." lines (the default profile's format: small instruct models follow it far
 * more often than JSON). Numbering ("Q1:", "1. Q:") is tolerated.
 */
function lineQaCandidates(text: string): { question: string; answer: string }[] {
  const pairs: { question: string; answer: string }[] = [];
  let question: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\d+[.)]\s*/, '');
    const q = /^(?:Q|Question)\s*\d*\s*[:.]\s*(.*)$/i.exec(line);
    const a = /^(?:A|Answer)\s*\d*\s*[:.]\s*(.*)$/i.exec(line);
    if (q) question = q[1]!.replace(/^\d+[.)]\s*/, '');
    else if (a && question !== null) {
      pairs.push({ question, answer: a[1]! });
      question = null;
    }
  }
  return pairs;
}

/** Pulls QA pairs out of model text: a JSON list, JSON objects scattered in prose, or Q:/A: lines. */
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
  if (candidates.length === 0) candidates.push(...lineQaCandidates(text));
  const pairs: QaPair[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (typeof c !== 'object' || c === null) continue;
    const o = c as Record<string, unknown>;
    const question = typeof o.question === 'string' ? o.question.trim() : '';
    // Small models number their lines or repeat the label ("4. The tower...", "A: Donaldson").
    const answer = typeof o.answer === 'string' ? o.answer.trim().replace(/^(?:A\s*:\s*|\d{1,2}[.)]\s+)/i, '') : typeof o.answer === 'number' ? String(o.answer) : '';
    // An "answer" that is itself a question, or repeats it, is a model stuck in a loop.
    const looping = answer.endsWith('?') || answer.toLowerCase() === question.toLowerCase();
    if (!question || !answer || looping || question.length > 500 || answer.length > 300 || seen.has(question.toLowerCase())) continue;
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
        waitTurn: options.waitTurn,
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
      const result = await runtime.generate({ tokens: prompt, maxTokens: options.qaMaxTokens ?? 256, signal: options.signal, sampling: samplingFor(attempt), onText: options.onToken, waitTurn: options.waitTurn });
      // Keep the pairs found so far, topped up with new questions from later attempts.
      const known = new Set(qa.map((p) => p.question.toLowerCase()));
      qa = [...qa, ...parseQaPairs(result.text).filter((p) => !known.has(p.question.toLowerCase()))].slice(0, qaCount);
    }
    if (qa.length < qaCount) warnings.push(`${qa.length} of ${qaCount} QA pairs after ${attempts} attempts`);
    return qa;
  };
  const [rewrite, qa] = await Promise.all([options.rewrite === false ? null : makeRewrite(), makeQa()]);
  return { rewrite, qa, warnings };
}
