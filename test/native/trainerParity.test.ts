// Parity of the trainer's forward pass with llama.cpp (through node-llama-cpp) on every
// supported architecture, F32 and quantized, without and with LoRA adapters (DESIGN §3).
// Tolerance, as max |logit difference| / logit range (measured values on an x86 CPU with AMX):
// - no adapter: 1e-3 for every type (measured 0 for all: the trainer multiplies with the same
//   repacked weights llama.cpp uses, see native/src/weights_repack.h, and pads K and V to
//   llama.cpp's KV-cache length so that attention sums in the same order);
// - with adapters: 1e-3 for F32 and 5e-3 for quantized bases. One adapter: measured 0. Two
//   adapters: measured <= 1.2e-3, because llama.cpp keeps the adapters of a context in an
//   unordered_map and adds their terms in that map's order, not in the order given (for the
//   llamaSpm256 Q4_K_M case the trainer with the two adapters swapped gives exactly llama.cpp's
//   logits); float sums in another order differ in the last bits, which quantized activations
//   then amplify.
import { join } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterLayout, convertAdapter, mergeAdapters } from '../../electron/core/trainer/adapterFiles.js';
import { LoraTrainer } from '../../electron/core/trainer/LoraTrainer.js';
import { quantizedModelPath } from '../support/quantizedModel.js';
import { tinyModelPath, type TinyModelSpec } from '../support/tinyModel.js';
import { F32_CASES, outputDir, QUANT_SPECS, TEST_THREADS, TEXTS, tokenize } from './fixtures.js';
import { logitsDiff, referenceLlama, referenceLogits } from './referenceLlama.js';

interface ParityCase { name: string; tolerance: number; adapterTolerance: number; modelPath: () => Promise<string> }

const cases: ParityCase[] = [
  ...F32_CASES.map((c) => ({ name: `${c.name}, F32`, tolerance: 1e-3, adapterTolerance: 1e-3, modelPath: () => tinyModelPath(c.spec) })),
  ...(['q8_0', 'q4_k_m'] as const).flatMap((type) =>
    (Object.entries(QUANT_SPECS) as [string, TinyModelSpec][]).map(([name, spec]) => ({ name: `${name}, ${type}`, tolerance: 1e-3, adapterTolerance: 5e-3, modelPath: () => quantizedModelPath(spec, type) }))),
];

describe.each(cases)('forward parity with llama.cpp: $name', ({ name, tolerance, adapterTolerance, modelPath }) => {
  let trainer: LoraTrainer;
  let model: LlamaModel;
  let tokens: number[];
  let adapterA: string;
  let adapterB: string;
  let dir: string;

  beforeAll(async () => {
    const path = await modelPath();
    trainer = await LoraTrainer.create(path, { threads: TEST_THREADS });
    model = await (await referenceLlama()).loadModel({ modelPath: path });
    tokens = tokenize(model, TEXTS[0]!);
    // Random non-zero adapters: a few steps at a large learning rate move B away from 0.
    dir = outputDir(name.replace(/[^a-z0-9]+/gi, '-'));
    const sequences = TEXTS.map((t) => ({ tokens: tokenize(model, t) }));
    adapterA = join(dir, 'a.gguf');
    adapterB = join(dir, 'b.gguf');
    await trainer.train({ sequences, lr: 2e-2, epochs: 2, seed: 1, outPath: adapterA, targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] });
    await trainer.train({ sequences, lr: 2e-2, epochs: 2, seed: 2, rank: 4, alpha: 8, outPath: adapterB, outType: 'f16' });
  });

  // The measured differences, for the record (PARAMKB_PARITY_REPORT=1).
  const report = (what: string, relative: number) => {
    if (process.env.PARAMKB_PARITY_REPORT) console.log(`parity ${name} | ${what} | ${relative.toExponential(2)}`);
  };

  afterAll(async () => {
    trainer?.dispose();
    await model?.dispose();
  });

  it('logits without an adapter', async () => {
    const diff = logitsDiff(await trainer.logits(tokens), await referenceLogits(model, tokens));
    report('no adapter', diff.relative);
    expect(diff.relative).toBeLessThan(tolerance);
  });

  it('logits with a random adapter on every matrix', async () => {
    const base = await trainer.logits(tokens);
    const ours = await trainer.logits(tokens, [{ path: adapterA }]);
    const diff = logitsDiff(ours, await referenceLogits(model, tokens, { adapters: [{ path: adapterA }] }));
    report('adapter', diff.relative);
    expect(diff.relative).toBeLessThan(adapterTolerance);
    // The adapter must really change the output, or the comparison proves nothing.
    expect(logitsDiff(ours, base).relative).toBeGreaterThan(0.05);
  });

  it('logits with two adapters at different scales (F32 + F16 files, rank 2 + rank 4)', async () => {
    const adapters = [{ path: adapterA, scale: 0.5 }, { path: adapterB, scale: 1 }];
    const diff = logitsDiff(await trainer.logits(tokens, adapters), await referenceLogits(model, tokens, { adapters }));
    report('two adapters', diff.relative);
    expect(diff.relative).toBeLessThan(adapterTolerance);
  });

  // Merging is file arithmetic, independent of the base weights' type: checked on F32 bases.
  it.runIf(name.endsWith('F32'))('a merged adapter gives the logits of its parts applied together', async () => {
    const parts = [{ path: adapterA, scale: 0.5 }, { path: adapterB, scale: 1 }];
    const merged = join(dir, 'merged.gguf');
    await mergeAdapters(parts, merged, 'f32');
    const together = await referenceLogits(model, tokens, { adapters: parts });
    const diff = logitsDiff(await referenceLogits(model, tokens, { adapters: [{ path: merged }] }), together);
    report('merged adapter', diff.relative);
    // Measured 8e-5..1.5e-4: adapter B is an F16 file, and llama.cpp rounds activations to F16
    // when it multiplies with F16 tensors; the merged file is F32.
    expect(diff.relative).toBeLessThan(1e-3);
    // The trainer reads merged files too (rank 6 on FFN weights, alpha 0).
    expect(logitsDiff(await trainer.logits(tokens, [{ path: merged }]), together).relative).toBeLessThan(adapterTolerance);
  });

  it.runIf(name.endsWith('F32'))('a Q8_0 copy of an adapter stays close to it, in llama.cpp and in the trainer', async () => {
    const q8 = join(dir, 'a.q8_0.gguf');
    await convertAdapter(adapterA, q8, 'q8_0');
    const base = await referenceLogits(model, tokens);
    const full = await referenceLogits(model, tokens, { adapters: [{ path: adapterA }] });
    const quantized = await referenceLogits(model, tokens, { adapters: [{ path: q8 }] });
    const effect = logitsDiff(full, base).relative;
    const error = logitsDiff(quantized, full).relative;
    report('q8_0 adapter: error / effect of the adapter', error / effect);
    // Measured 0.6-1.6% of the adapter's effect, 7.5% on the tied llama-bpe fixture, whose huge
    // random logits amplify the Q8_0 rounding of the activations that multiply a Q8_0 lora_a.
    // A misplaced value would err by about the whole effect.
    expect(error).toBeLessThan(0.15 * effect);
    expect(logitsDiff(await trainer.logits(tokens, [{ path: q8 }]), quantized).relative).toBeLessThan(adapterTolerance);
    await expect(mergeAdapters([{ path: join(dir, 'missing.gguf'), scale: 1 }], join(dir, 'x.gguf'), 'f16')).rejects.toThrow(/Cannot open the adapter file/);
  });

  it.runIf(name.endsWith('F32'))('a compact Q3_K copy of an adapter expands to close logits, and the trainer reads it', async () => {
    // An adapter trained as passages are (FFN targets, many small steps); a few large steps
    // would leave B with values of nearly one magnitude, a worst case for 3-bit rows.
    const trained = join(dir, 'recipe.gguf');
    await trainer.train({ sequences: TEXTS.map((t) => ({ tokens: tokenize(model, t) })), lr: 2e-3, epochs: 10, seed: 3, outPath: trained });
    const compact = join(dir, 'recipe.q3_k.gguf');
    await convertAdapter(trained, compact, 'q3_k');
    expect(await adapterLayout(compact)).toBe('compact');
    expect(await adapterLayout(trained)).toBe('llama');
    // llama.cpp cannot read the compact layout; expanded (as the runtime does), it can.
    const expanded = join(dir, 'recipe.expanded.gguf');
    await convertAdapter(compact, expanded, 'f32');
    expect(await adapterLayout(expanded)).toBe('llama');
    const base = await referenceLogits(model, tokens, {});
    const full = await referenceLogits(model, tokens, { adapters: [{ path: trained }] });
    const viaCompact = await referenceLogits(model, tokens, { adapters: [{ path: expanded }] });
    const effect = logitsDiff(full, base).relative;
    const error = logitsDiff(viaCompact, full).relative;
    report('q3_k compact adapter: error / effect of the adapter', error / effect);
    // Measured 0.13-0.18 of the effect. A misplaced value (transposition, padding) would err
    // by about the whole effect.
    expect(error).toBeGreaterThan(0);
    expect(error).toBeLessThan(0.35 * effect);
    expect(logitsDiff(await trainer.logits(tokens, [{ path: compact }]), viaCompact).relative).toBeLessThan(adapterTolerance);
  });
});
