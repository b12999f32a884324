// Context distillation (issue 14; Knowledge Modules arXiv 2503.08727, Cartridges arXiv
// 2506.06266): the adapter learns to answer *without* the passage as the base model answers
// *with* it. For each QA pair of the augmentation, the teacher is the base model with the
// passage in the prompt and the student the model with the LoRA and the question alone; the
// student's targets are the answer tokens, labelled with the teacher's top-k next-token
// distribution (soft cross-entropy, native/src/trainer.cpp). The student sequences hold no
// passage, so a passage trains on a few short sequences instead of the paper's passage-long
// ones.
import type { Token } from 'node-llama-cpp';
import type { LlmRuntime } from '../llm/llmRuntime.js';
import { renderAnswer, renderQuestion } from '../llm/promptProfile.js';
import type { Augmentation } from './augmentation.js';
import type { TrainingSequence } from './trainingSequences.js';

/** The teacher's top-k distribution for each target of a sequence, in target order. */
export interface TeacherTargets {
  k: number;
  /** Row-major [targets][k] token ids, likeliest first. */
  ids: Int32Array;
  /** Row-major [targets][k] probabilities (full-softmax, so a row sums to at most 1). */
  probs: Float32Array;
}

export interface DistillationSequence extends TrainingSequence {
  teacher: TeacherTargets;
}

/** Length of the longest common prefix of two token lists. */
function commonPrefix(a: Token[], b: Token[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * One student sequence per QA pair: the question without the passage and the answer, with the
 * loss on the answer's tokens (and the end of the turn), labelled by the teacher's top-`k`
 * distributions computed once here with the passage in the prompt.
 */
export async function buildDistillationSequences(runtime: LlmRuntime, passage: string, augmentation: Augmentation, k: number): Promise<DistillationSequence[]> {
  const sequences: DistillationSequence[] = [];
  for (const pair of augmentation.qa) {
    const answer = { role: 'assistant' as const, content: renderAnswer(runtime.profile, pair.answer) };
    const studentPrompt = { role: 'user' as const, content: renderQuestion(runtime.profile, pair.question, []) };
    const teacherPrompt = { role: 'user' as const, content: renderQuestion(runtime.profile, pair.question, [passage]) };
    const student = runtime.conversationTokens([studentPrompt, answer]);
    const teacher = runtime.conversationTokens([teacherPrompt, answer]);
    // The answer starts where the rendered prompt (with its generation prompt) ends; chat
    // templates render a reply after exactly that prefix.
    const studentStart = commonPrefix(student, runtime.promptTokens([studentPrompt]));
    const teacherStart = commonPrefix(teacher, runtime.promptTokens([teacherPrompt]));
    const targets = student.length - studentStart;
    // Both sequences must end with the same reply tokens, or the teacher labels other tokens.
    if (targets < 1 || teacher.length - teacherStart !== targets || student.slice(studentStart).some((t, i) => t !== teacher[teacherStart + i])) continue;
    const distributions = await runtime.topKDistributions(teacher, teacherStart, k);
    sequences.push({
      tokens: student,
      lossMask: student.map((_, i) => (i >= studentStart ? 1 : 0)),
      kind: 'distill',
      teacher: { k, ids: distributions.ids, probs: distributions.probs },
    });
  }
  return sequences;
}
