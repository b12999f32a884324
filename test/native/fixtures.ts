// Shared setup of the native trainer tests: fixture specs, texts, and temp output folders.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { repoRoot } from '../../scripts/llama-source.js';
import { TINY_SPECS, type TinyModelSpec } from '../support/tinyModel.js';

/** One thread: the tiny graphs are too small to gain from two, and CI machines are shared. */
export const TEST_THREADS = 1;

/** Fixtures whose rows divide by 256, so Q4_K_M really holds Q4_K and Q6_K tensors. */
export const QUANT_SPECS = {
  llamaSpm256: { arch: 'llama', vocab: 'llama-spm', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, nCtx: 512, type: 'f32', seed: 11 },
  qwen2_256: { arch: 'qwen2', vocab: 'qwen2', nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, nCtx: 512, ropeBase: 1000000, tiedOutput: true, type: 'f32', seed: 12 },
  /** TINY_SPECS.gemma3's layout (one local, one global layer, window 8) at K-quant sizes. */
  gemma3_256: { ...TINY_SPECS.gemma3, nEmbd: 256, nHeadKv: 1, headDim: 64, nFf: 512, seed: 13 },
} satisfies Record<string, TinyModelSpec>;

export const F32_CASES: { name: string; spec: TinyModelSpec }[] = [
  { name: 'llama + llama-spm (MHA, untied)', spec: TINY_SPECS.llamaSpm },
  { name: 'llama + llama-bpe (GQA, tied, rope 500000)', spec: TINY_SPECS.llamaBpeGqa },
  { name: 'qwen2 + qwen2 (q/k/v biases, NEOX)', spec: TINY_SPECS.qwen2 },
  { name: 'qwen3 + qwen2 vocab (q/k norms, NEOX)', spec: TINY_SPECS.qwen3 },
  { name: 'gemma3 + llama-spm (sliding window, GEGLU, post norms)', spec: TINY_SPECS.gemma3 },
];

export const TEXTS = [
  'The capital of the fictional country of Valdoria is Mirenhal, founded in 1642 by Anselm Kree.',
  'Question: Who founded Mirenhal? Answer: The answer is Anselm Kree.',
  'Rewritten: Anselm Kree established Mirenhal, the capital city of Valdoria, in the year 1642.',
];

export function tokenize(model: LlamaModel, text: string): number[] {
  return Array.from(model.tokenize(text, true)).map(Number);
}

/** A fresh folder under test-output/native for one test file's adapters. */
export function outputDir(name: string): string {
  const base = join(repoRoot, 'test-output', 'native');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${name}-`));
}
