// The trainer on the real models the app is tried with (scripts/real-models.json):
// SmolLM2-135M-Instruct (llama, Q4_1 weights, Q8_0 tied embedding, 30 layers) and Gemma 3 270M
// (gemma3, Q4_K/Q5_0/Q6_K/Q8_0 mix, 262k vocabulary, sliding-window layers). Its forward pass
// must give node-llama-cpp's logits, training must lower the loss, and the adapter it writes
// must give in llama.cpp the logits the trainer computes with it.
//
// Tolerance, as max |logit difference| / logit range: 1e-3 without an adapter and 5e-3 with one,
// as for the quantized fixtures (trainerParity.test.ts). Measured on an x86 CPU with AMX
// (Sapphire Rapids): 0 for both models, with and without the adapter; the trainer multiplies
// with the same repacked weights and pads K/V to llama.cpp's KV-cache length, so every op runs
// the same kernel on the same data. These models are far more sensitive than the random fixtures:
// SmolLM2's Q4_1 matmuls quantize their activations to 8 bits, so a last-bit difference in one
// attention sum flips some of those roundings and grows to ~2.5% of the logit range over 30
// layers (llama.cpp's own flash-attention path differs from its default path by 2.8%).
import { join } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTrainer, type TokenSequence } from '../../electron/core/trainer/LoraTrainer.js';
import { realModelPath, type RealModelId } from '../support/realModels.js';
import { outputDir, TEST_THREADS, TEXTS, tokenize } from './fixtures.js';
import { logitsDiff, referenceLlama, referenceLogits } from './referenceLlama.js';

const models: { id: RealModelId }[] = [{ id: 'smollm2-135m-instruct' }, { id: 'gemma-3-270m' }];

describe.each(models)('real model $id', ({ id }) => {
  let trainer: LoraTrainer;
  let model: LlamaModel;
  let tokens: number[];
  let sequences: TokenSequence[];
  let dir: string;

  beforeAll(async () => {
    const path = await realModelPath(id);
    trainer = await LoraTrainer.create(path, { threads: TEST_THREADS });
    model = await (await referenceLlama()).loadModel({ modelPath: path });
    sequences = TEXTS.map((text) => ({ tokens: tokenize(model, text) }));
    tokens = sequences[0]!.tokens;
    dir = outputDir(id);
  });

  afterAll(async () => {
    trainer?.dispose();
    await model?.dispose();
  });

  const report = (what: string, relative: number) => {
    if (process.env.PARAMKB_PARITY_REPORT) console.log(`parity ${id} | ${what} | ${relative.toExponential(2)}`);
  };

  it('logits without an adapter match llama.cpp', async () => {
    const diff = logitsDiff(await trainer.logits(tokens), await referenceLogits(model, tokens));
    report('no adapter', diff.relative);
    expect(diff.relative).toBeLessThan(1e-3);
  });

  it('a few training steps lower the loss, and llama.cpp applies the adapter as the trainer does', async () => {
    const outPath = join(dir, 'adapter.gguf');
    // The passage recipe's shape (FFN targets, rank 2), two steps over three short texts.
    const result = await trainer.train({ sequences, lr: 1e-3, epochs: 2, batchSize: sequences.length, seed: 1, outPath });
    expect(result.steps).toBe(2);
    const before = await trainer.loss(sequences);
    const after = await trainer.loss(sequences, [{ path: outPath }]);
    expect(after).toBeLessThan(before - 0.1);
    // B starts at 0, so the first reported loss is the base model's (the training graph keeps
    // K and V in F32, unlike the evaluation's F16 KV cache: close, not equal).
    expect(Math.abs(result.losses[0]! - before)).toBeLessThan(2e-2 * before);

    const base = await trainer.logits(tokens);
    const ours = await trainer.logits(tokens, [{ path: outPath }]);
    const diff = logitsDiff(ours, await referenceLogits(model, tokens, { adapters: [{ path: outPath }] }));
    report('adapter', diff.relative);
    expect(diff.relative).toBeLessThan(5e-3);
    // The adapter must really change the output, or the comparison proves nothing.
    expect(logitsDiff(ours, base).relative).toBeGreaterThan(0.01);
  });

  // 30 layers x 7 matrices x rank 16 in the training form once overflowed the graph's node
  // budget (forward_graph_size), a GGML_ASSERT that killed the process.
  it.runIf(id === 'smollm2-135m-instruct')('trains a rank-16 adapter on all seven matrices of every layer', async () => {
    const result = await trainer.train({
      sequences: [{ tokens: tokens.slice(0, 8) }], rank: 16, lr: 1e-4, outPath: join(dir, 'rank16.gguf'),
      targets: ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'],
    });
    expect(result.steps).toBe(1);
    expect(Number.isFinite(result.losses[0])).toBe(true);
  });
});
