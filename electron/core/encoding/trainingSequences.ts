// Training sequences of parametric encoding (DESIGN §1, step 2), as in the paper and the PyTorch
// reference: for each of the first two QA pairs, one sequence with the passage as context and
// one with the rewrite, plus one sequence for the third pair without context; each is a chat
// example "question prompt → The answer is a." rendered with the model's template. Other sets
// (TrainingSet) choose other steps.
//
// The loss covers every token from the first one after the prompt's fixed head (the chat
// template and instruction, the same for every passage: LlmRuntime.promptHeadLength) on; the
// paper's covers the head too. The head still passes through the adapter, only its tokens are
// no targets: predicting them teaches nothing about the passage, and each target costs a row
// of the output projection, the largest matrix of a small model, forwards and backwards
// (speed: bench/trainer.md; quality on the world dev split: docs/results.md, 2026-12-04).
import type { Token } from 'node-llama-cpp';
import type { LlmRuntime } from '../llm/llmRuntime.js';
import { renderAnswer, renderQuestion } from '../llm/promptProfile.js';
import type { Augmentation } from './augmentation.js';

export const TRAINING_SEQUENCE_KINDS = ['passage', 'rewrite', 'closed-book', 'distill'] as const;

/**
 * Which sequences an adapter trains on, one optimizer step each: 'paper', the paper's (above),
 * or a list of steps such as "P1,C1,P2,C2,C3": P = a QA pair with the passage as context,
 * R = with the rewrite (the passage when there is none), C = closed-book, each followed by the
 * pair's number. Steps of pairs the augmentation lacks are skipped. Augmentation writes a
 * rewrite only for sets that use one (writesRewrite).
 */
export type TrainingSet = string;
const TRAINING_SET_STEPS = /^[PRC][1-9](,[PRC][1-9]){0,29}$/;

export function isTrainingSet(value: string): boolean {
  return value === 'paper' || TRAINING_SET_STEPS.test(value);
}

export function trainingSetUsesRewrite(set: TrainingSet): boolean {
  return set === 'paper' || set.includes('R');
}

export interface TrainingSequence {
  tokens: Token[];
  /** 1 where the token counts in the loss. */
  lossMask: number[];
  /** What the sequence holds, for logs and tests. */
  kind: (typeof TRAINING_SEQUENCE_KINDS)[number];
}

/** One closed-book sequence per QA pair: the material of a warm-up init (DESIGN §1). */
export function buildClosedBookSequences(runtime: LlmRuntime, augmentation: Augmentation): TrainingSequence[] {
  return augmentation.qa.map((pair) => {
    const tokens = runtime.conversationTokens([
      { role: 'user', content: renderQuestion(runtime.profile, pair.question, []) },
      { role: 'assistant', content: renderAnswer(runtime.profile, pair.answer) },
    ]);
    return { tokens, lossMask: tokens.map(() => 1), kind: 'closed-book' as const };
  });
}

export function buildTrainingSequences(runtime: LlmRuntime, passage: string, augmentation: Augmentation, set: TrainingSet = 'paper'): TrainingSequence[] {
  const sequences: TrainingSequence[] = [];
  const add = (question: string, answer: string, context: string | null, kind: TrainingSequence['kind']) => {
    const tokens = runtime.conversationTokens([
      { role: 'user', content: renderQuestion(runtime.profile, question, context === null ? [] : [context]) },
      { role: 'assistant', content: renderAnswer(runtime.profile, answer) },
    ]);
    const head = runtime.promptHeadLength(tokens);
    sequences.push({ tokens, lossMask: tokens.map((_, i) => (i >= head ? 1 : 0)), kind });
  };
  const rewrite = trainingSetUsesRewrite(set) ? augmentation.rewrite : null;
  if (set === 'paper') {
    const withContext = augmentation.qa.length > 2 ? augmentation.qa.slice(0, -1) : augmentation.qa;
    for (const pair of withContext) {
      add(pair.question, pair.answer, passage, 'passage');
      if (rewrite) add(pair.question, pair.answer, rewrite, 'rewrite');
    }
    const closedBook = augmentation.qa.length > 2 ? augmentation.qa.at(-1)! : null;
    if (closedBook) add(closedBook.question, closedBook.answer, null, 'closed-book');
  } else {
    for (const step of set.split(',')) {
      const pair = augmentation.qa[Number(step.slice(1)) - 1];
      if (!pair) continue;
      if (step[0] === 'C') add(pair.question, pair.answer, null, 'closed-book');
      else if (step[0] === 'R' && rewrite) add(pair.question, pair.answer, rewrite, 'rewrite');
      else add(pair.question, pair.answer, passage, 'passage');
    }
  }
  if (sequences.length === 0) {
    // No usable QA pair: the adapter can still learn the passage's text (and its rewrite).
    for (const text of [passage, rewrite].filter((t): t is string => !!t)) {
      const tokens = runtime.tokenize(text);
      sequences.push({ tokens, lossMask: tokens.map(() => 1), kind: text === passage ? 'passage' : 'rewrite' });
    }
  }
  return sequences;
}
