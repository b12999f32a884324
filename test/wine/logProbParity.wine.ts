// The trainer's forward pass against llama.cpp through node-llama-cpp's next-token
// probabilities, for scripts/cross-win.sh (not part of `npm test`: test/native covers this with
// raw logits). The Windows packages published for node-llama-cpp can lag behind the Linux ones,
// and versions before 3.22 have no generateNext.logits; every version has probabilities, and at
// temperature 1 with top-k, top-p and min-p off, log p is log_softmax of llama.cpp's logits.
import { join } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTrainer } from '../../electron/core/trainer/LoraTrainer.js';
import { quantizedModelPath } from '../support/quantizedModel.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';
import { outputDir, QUANT_SPECS, TEST_THREADS, TEXTS, tokenize } from '../native/fixtures.js';
import { referenceLlama } from '../native/referenceLlama.js';

/** log p of every vocabulary token after each position, row-major, from llama.cpp's sampler. */
async function referenceLogProbs(model: LlamaModel, tokens: number[], nVocab: number, adapters: { path: string }[] = []): Promise<Float64Array> {
  const context = await model.createContext({
    contextSize: Math.max(64, tokens.length + 8), sequences: 1, batchSize: Math.max(64, tokens.length), flashAttention: false, threads: TEST_THREADS,
    ...(adapters.length ? { lora: { adapters: adapters.map((a) => ({ filePath: a.path, scale: 1 })) } } : {}),
  });
  try {
    const options = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const results = await context.getSequence().controlledEvaluate(tokens.map((t) => [t as never, { generateNext: { probabilities: true, options } }]));
    const out = new Float64Array(tokens.length * nVocab).fill(Number.NaN);
    results.forEach((r, i) => {
      const probabilities = r?.next.probabilities;
      if (!probabilities) throw new Error(`node-llama-cpp returned no probabilities for position ${i}`);
      for (const [token, p] of probabilities) out[i * nVocab + (token as number)] = Math.log(p);
    });
    return out;
  } finally {
    await context.dispose();
  }
}

function logSoftmax(logits: Float32Array, nVocab: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let row = 0; row < logits.length / nVocab; row++) {
    const x = logits.subarray(row * nVocab, (row + 1) * nVocab);
    let max = -Infinity;
    for (const v of x) max = Math.max(max, v);
    let sum = 0;
    for (const v of x) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < nVocab; i++) out[row * nVocab + i] = x[i]! - lse;
  }
  return out;
}

/** Largest |ours - reference| over the entries llama.cpp gave, relative to their range. */
function relativeDiff(ours: Float64Array, reference: Float64Array): { relative: number; covered: number } {
  let maxAbs = 0;
  let min = Infinity;
  let max = -Infinity;
  let covered = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    if (!Number.isFinite(r)) continue;
    covered++;
    maxAbs = Math.max(maxAbs, Math.abs(ours[i]! - r));
    min = Math.min(min, r);
    max = Math.max(max, r);
  }
  return { relative: maxAbs / (max - min), covered: covered / reference.length };
}

const cases = [
  { name: 'llama + llama-spm, F32', modelPath: () => tinyModelPath(TINY_SPECS.llamaSpm) },
  { name: 'qwen2 + qwen2, F32', modelPath: () => tinyModelPath(TINY_SPECS.qwen2) },
  { name: 'llamaSpm256, q8_0', modelPath: () => quantizedModelPath(QUANT_SPECS.llamaSpm256, 'q8_0') },
];

describe.each(cases)('log-probability parity with llama.cpp: $name', ({ name, modelPath }) => {
  let trainer: LoraTrainer;
  let model: LlamaModel;
  let tokens: number[];
  let adapter: string;

  beforeAll(async () => {
    const path = await modelPath();
    trainer = await LoraTrainer.create(path, { threads: TEST_THREADS });
    model = await (await referenceLlama()).loadModel({ modelPath: path });
    tokens = tokenize(model, TEXTS[0]!);
    adapter = join(outputDir(name.replace(/[^a-z0-9]+/gi, '-')), 'a.gguf');
    await trainer.train({ sequences: TEXTS.map((t) => ({ tokens: tokenize(model, t) })), lr: 2e-2, epochs: 2, seed: 1, outPath: adapter });
  });
  afterAll(async () => {
    trainer?.dispose();
    await model?.dispose();
  });

  const report = (what: string, relative: number) => console.log(`log-prob parity ${name} | ${what} | ${relative.toExponential(2)}`);

  it('without an adapter', async () => {
    const nVocab = trainer.info.nVocab;
    const diff = relativeDiff(logSoftmax(await trainer.logits(tokens), nVocab), await referenceLogProbs(model, tokens, nVocab));
    report('no adapter', diff.relative);
    expect(diff.covered).toBeGreaterThan(0.99);
    expect(diff.relative).toBeLessThan(1e-3);
  });

  it('with an adapter that changes the output', async () => {
    const nVocab = trainer.info.nVocab;
    const ours = logSoftmax(await trainer.logits(tokens, [{ path: adapter }]), nVocab);
    const diff = relativeDiff(ours, await referenceLogProbs(model, tokens, nVocab, [{ path: adapter }]));
    report('adapter', diff.relative);
    expect(diff.covered).toBeGreaterThan(0.99);
    expect(diff.relative).toBeLessThan(5e-3);
    expect(relativeDiff(ours, logSoftmax(await trainer.logits(tokens), nVocab)).relative).toBeGreaterThan(0.01);
  });
});
