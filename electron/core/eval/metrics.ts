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

export interface PairedDifference {
  /** Mean of b − a over the pairs. */
  mean: number;
  /** 95% paired-bootstrap interval of that mean. */
  low: number;
  high: number;
  n: number;
}

/**
 * The mean difference b − a of paired per-question scores, with a 95% percentile interval from
 * `resamples` bootstrap resamples of the questions (DESIGN §5). Seeded, so a report is
 * reproducible.
 */
export function pairedBootstrap(a: number[], b: number[], resamples = 10_000, seed = 1): PairedDifference {
  if (a.length !== b.length) throw new Error(`paired scores need equal lengths (${a.length} vs ${b.length})`);
  const n = a.length;
  const diffs = a.map((x, i) => b[i]! - x);
  const mean = n ? diffs.reduce((s, d) => s + d, 0) / n : 0;
  if (n === 0) return { mean, low: 0, high: 0, n };
  // mulberry32: a small, well-known seeded generator; quality is ample for resampling indexes.
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += diffs[Math.floor(random() * n)]!;
    means[r] = sum / n;
  }
  means.sort();
  return { mean, low: means[Math.floor(0.025 * (resamples - 1))]!, high: means[Math.ceil(0.975 * (resamples - 1))]!, n };
}
