// Answer-quality metrics of DESIGN §5: exact match and token F1 after SQuAD normalization
// (lowercase, no punctuation, no articles a/an/the, collapsed whitespace), the prediction being
// the text after "The answer is" when the model wrote it.

export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    // SQuAD deletes Python's string.punctuation (ASCII), it does not replace it with spaces.
    .replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The answer part of a generation: after the last "The answer is", without the final period. */
export function extractAnswer(generation: string, answerPrefix = 'The answer is'): string {
  const prefix = answerPrefix.trim().toLowerCase();
  const lower = generation.toLowerCase();
  const at = prefix ? lower.lastIndexOf(prefix) : -1;
  let answer = at >= 0 ? generation.slice(at + prefix.length) : generation;
  answer = answer.trim();
  // Keep the first line and drop the closing period of "The answer is X."
  answer = answer.split('\n')[0]!.trim().replace(/\.$/, '').trim();
  return answer;
}

export interface AnswerScore {
  em: number;
  f1: number;
  precision: number;
  recall: number;
}

function scoreOne(prediction: string, truth: string): AnswerScore {
  const p = normalizeAnswer(prediction);
  const t = normalizeAnswer(truth);
  const em = p === t ? 1 : 0;
  const pTokens = p ? p.split(' ') : [];
  const tTokens = t ? t.split(' ') : [];
  const counts = new Map<string, number>();
  for (const tok of tTokens) counts.set(tok, (counts.get(tok) ?? 0) + 1);
  let common = 0;
  for (const tok of pTokens) {
    const c = counts.get(tok) ?? 0;
    if (c > 0) { common++; counts.set(tok, c - 1); }
  }
  if (common === 0) return { em, f1: em, precision: em, recall: em };
  const precision = common / pTokens.length;
  const recall = common / tTokens.length;
  return { em, f1: (2 * precision * recall) / (precision + recall), precision, recall };
}

/** The best score over the accepted answers (SQuAD takes the max per metric). */
export function scoreAnswer(prediction: string, answers: string[]): AnswerScore {
  const best: AnswerScore = { em: 0, f1: 0, precision: 0, recall: 0 };
  for (const a of answers) {
    const s = scoreOne(prediction, a);
    best.em = Math.max(best.em, s.em);
    best.f1 = Math.max(best.f1, s.f1);
    best.precision = Math.max(best.precision, s.precision);
    best.recall = Math.max(best.recall, s.recall);
  }
  return best;
}
