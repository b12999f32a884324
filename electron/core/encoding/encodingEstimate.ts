// What encoding will cost, said before it starts: the time per passage measured on this
// knowledge base's model when passages were already encoded, else a rough guess from the
// model's size.
import type { EncodingEstimate } from '../../shared/types.js';

/**
 * The rough guess for a CPU: 5 s plus 75 s per GB of model file per passage, from the measured
 * pipeline (bench/README.md: a 40 MB model 6.5 s per passage; a 1B model's training alone
 * 32 s, its augmentation about as long).
 */
export function guessSecondsPerPassage(modelBytes: number): number {
  return 5 + 75 * (modelBytes / 1e9);
}

export function estimateEncoding(passages: number, measuredSecondsPerPassage: number | null, modelBytes: number): EncodingEstimate {
  const measured = measuredSecondsPerPassage !== null;
  const secondsPerPassage = measuredSecondsPerPassage ?? guessSecondsPerPassage(modelBytes);
  return { passages, secondsPerPassage, seconds: Math.round(passages * secondsPerPassage), measured };
}
