// Bad input never crashes the process: every case below would be a GGML_ASSERT (an abort) if
// it reached ggml; instead the trainer rejects with a typed error and stays usable.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTrainer, type LoraTarget } from '../../electron/core/trainer/LoraTrainer.js';
import { quantizeModel } from '../../electron/core/trainer/quantizeModel.js';
import {
  InvalidTrainingInputError, TrainerError, UnsupportedModelError,
} from '../../electron/core/trainer/trainerErrors.js';
import { writeGguf, type MetadataValue } from '../support/ggufWriter.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';
import { outputDir, TEST_THREADS } from './fixtures.js';

describe('trainer errors', () => {
  let trainer: LoraTrainer;
  let dir: string;
  let adapter: string;
  const seq = { tokens: [1, 2, 3, 4, 5, 6] };

  beforeAll(async () => {
    trainer = await LoraTrainer.create(await tinyModelPath(TINY_SPECS.llamaSpm), { threads: TEST_THREADS });
    dir = outputDir('errors');
    adapter = join(dir, 'ok.gguf');
    await trainer.train({ sequences: [seq], outPath: adapter });
  });

  afterAll(() => trainer?.dispose());

  it('rejects token ids outside the vocabulary and sequences that do not fit', async () => {
    const n = trainer.info.nVocab;
    await expect(trainer.logits([1, n])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.logits([1, -1])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.logits([1, 2.5])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.logits([])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.loss([{ tokens: [1] }])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    const tooLong = Array.from({ length: trainer.info.nCtxTrain + 1 }, () => 5);
    await expect(trainer.loss([{ tokens: tooLong }])).rejects.toThrow(/context/);
    await expect(trainer.loss([{ tokens: [1, 2, 3], lossMask: [1, 1] }])).rejects.toThrow(/one entry per token/);
    await expect(trainer.loss([{ tokens: [1, 2, 3], lossMask: [1, 0, 0] }])).rejects.toThrow(/no loss tokens/);
    await expect(trainer.loss([{ tokens: [1, 2, 3], lossMask: [1, 2, 1] }])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.loss([])).rejects.toBeInstanceOf(InvalidTrainingInputError);
  });

  it('rejects bad training options with the option named', async () => {
    const outPath = join(dir, 'never.gguf');
    const bad: [object, RegExp][] = [
      [{ rank: 0 }, /rank/],
      [{ rank: 1.5 }, /rank/],
      [{ alpha: -1 }, /alpha/],
      [{ lr: 0 }, /lr/],
      [{ lr: Number.NaN }, /lr/],
      [{ epochs: 0 }, /epochs/],
      [{ batchSize: 0 }, /batchSize/],
      [{ gradAccumulation: -1 }, /gradAccumulation/],
      [{ targets: ['ffn_upp' as LoraTarget] }, /ffn_upp/],
      [{ targets: [] }, /targets/],
      [{ outType: 'q4' as never }, /outType/],
      [{ seed: -3 }, /seed/],
    ];
    for (const [options, message] of bad) {
      await expect(trainer.train({ sequences: [seq], outPath, ...options })).rejects.toThrow(message);
    }
    await expect(trainer.train({ sequences: [seq], outPath: join(dir, 'no-such-folder', 'x.gguf') })).rejects.toMatchObject({ code: 'io-error' });
    for (const threads of [0, 1.5, 2000]) expect(() => trainer.setThreads(threads)).toThrow(/threads/);
  });

  it('checks the native layer too, without the TypeScript checks', async () => {
    // Straight to the addon: the C++ validation is the last line of defence. Argument type
    // errors throw synchronously, input errors reject; both carry a code.
    const native = (trainer as unknown as { native: { trainerTrain: (...a: unknown[]) => Promise<unknown>; trainerLogits: (...a: unknown[]) => Promise<unknown> }; handle: unknown });
    const base = { sequences: [{ tokens: Int32Array.from(seq.tokens) }], targets: ['ffn_up'], rank: 2, alpha: 32, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, epochs: 1, batchSize: 1, gradAccumulation: 1, seed: 0, shuffle: true, outPath: join(dir, 'n.gguf'), outType: 'f32', exactBackward: false };
    await expect(native.native.trainerTrain(native.handle, { ...base, rank: 0 })).rejects.toMatchObject({ code: 'invalid-input' });
    await expect(native.native.trainerTrain(native.handle, { ...base, targets: ['nope'] })).rejects.toMatchObject({ code: 'invalid-input' });
    expect(() => (native.native as unknown as { trainerSetThreads: (...a: unknown[]) => void }).trainerSetThreads(native.handle, 5000)).toThrow(expect.objectContaining({ code: 'invalid-input' }));
    await expect(native.native.trainerTrain(native.handle, { ...base, sequences: [{ tokens: Int32Array.from([1, 99999999]) }] })).rejects.toMatchObject({ code: 'invalid-input' });
    expect(() => native.native.trainerTrain(native.handle, { ...base, sequences: 'x' })).toThrow(expect.objectContaining({ code: 'invalid-input' }));
    expect(() => native.native.trainerLogits(native.handle, Int32Array.from([1, 2]), [{ path: 42 }])).toThrow(expect.objectContaining({ code: 'invalid-input' }));
    expect(() => native.native.trainerLogits({}, Int32Array.from([1, 2]), [])).toThrow(/handle/);
  });

  it('rejects adapters that do not fit the model and files that are not adapters', async () => {
    const other = await LoraTrainer.create(await tinyModelPath(TINY_SPECS.qwen2), { threads: TEST_THREADS });
    try {
      await expect(other.logits([1, 2, 3], [{ path: adapter }])).rejects.toThrow(/another architecture/);
    } finally {
      other.dispose();
    }
    const garbage = join(dir, 'garbage.gguf');
    writeFileSync(garbage, 'not a gguf file at all');
    await expect(trainer.logits([1, 2], [{ path: garbage }])).rejects.toBeInstanceOf(InvalidTrainingInputError);
    await expect(trainer.logits([1, 2], [{ path: join(dir, 'missing.gguf') }])).rejects.toMatchObject({ code: 'io-error' });
    await expect(trainer.logits([1, 2], [{ path: await tinyModelPath(TINY_SPECS.llamaSpm) }])).rejects.toThrow(/not a LoRA adapter/);
    await expect(trainer.train({ sequences: [seq], outPath: join(dir, 'x.gguf'), init: garbage })).rejects.toBeInstanceOf(InvalidTrainingInputError);
  });

  it('rejects unsupported or broken model files', async () => {
    await expect(LoraTrainer.create(join(dir, 'missing.gguf'))).rejects.toMatchObject({ code: 'io-error' });
    const garbage = join(dir, 'garbage-model.gguf');
    writeFileSync(garbage, Buffer.alloc(1024, 7));
    await expect(LoraTrainer.create(garbage)).rejects.toBeInstanceOf(UnsupportedModelError);
    await expect(LoraTrainer.create(adapter)).rejects.toThrow(/LoRA adapter, not a base model/);
    // Metadata-only files: the architecture and hyper-parameters are checked before any tensor.
    const metadataOnly = (name: string, arch: string, extra: [string, MetadataValue][] = []) => {
      const path = join(dir, name);
      writeGguf(path, new Map<string, MetadataValue>([
        ['general.architecture', { type: 'string', value: arch }],
        [`${arch}.embedding_length`, { type: 'u32', value: 64 }],
        [`${arch}.block_count`, { type: 'u32', value: 2 }],
        [`${arch}.feed_forward_length`, { type: 'u32', value: 128 }],
        [`${arch}.attention.head_count`, { type: 'u32', value: 4 }],
        [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: 1e-6 }],
        ...extra,
      ]), []);
      return path;
    };
    await expect(LoraTrainer.create(metadataOnly('gemma2.gguf', 'gemma2'))).rejects.toThrow(/'gemma2' is not supported by the trainer \(llama, qwen2, qwen3 and gemma3 are\)/);
    const softcapped = metadataOnly('softcap.gguf', 'gemma3', [['gemma3.final_logit_softcapping', { type: 'f32', value: 30 }]]);
    await expect(LoraTrainer.create(softcapped)).rejects.toBeInstanceOf(UnsupportedModelError);
    await expect(LoraTrainer.create(softcapped)).rejects.toThrow(/softcapping/);
    await expect(quantizeModel(join(dir, 'missing.gguf'), join(dir, 'q.gguf'), 'q8_0')).rejects.toMatchObject({ code: 'io-error' });
    await expect(quantizeModel(adapter, join(dir, 'q.gguf'), 'q9' as never)).rejects.toBeInstanceOf(InvalidTrainingInputError);
  });

  it('is unusable after dispose, with a clear error, and dispose is idempotent', async () => {
    const t = await LoraTrainer.create(await tinyModelPath(TINY_SPECS.llamaSpm), { threads: TEST_THREADS });
    t.dispose();
    t.dispose();
    await expect(t.logits([1, 2])).rejects.toBeInstanceOf(TrainerError);
    await expect(t.logits([1, 2])).rejects.toThrow(/disposed/);
    // The shared trainer still works after all of the above.
    expect(await trainer.loss([seq])).toBeGreaterThan(0);
  });
});
