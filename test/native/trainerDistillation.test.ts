// Soft targets (context distillation, issue 14): the trainer's loss with a teacher's top-k
// distribution is the closed form computed here from its logits, its gradient points where
// finite differences of that loss point, and a one-hot teacher is exactly next-token training.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTrainer, type TokenSequence } from '../../electron/core/trainer/LoraTrainer.js';
import { readLoraTensors, writeLoraTensors, type LoraTensor } from '../support/loraFile.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';
import { outputDir, TEST_THREADS } from './fixtures.js';

const SPEC = TINY_SPECS.llamaSpm;
// Token ids of the llama-spm vocabulary; the last one is the only target.
const TOKENS = [1, 450, 7483, 310, 278, 25733, 4234, 310, 15600, 3136, 338, 341, 381, 264];
const LAST = TOKENS.length - 1;
const MASK = TOKENS.map((_, i) => (i === LAST ? 1 : 0));
// A teacher whose top 4 hold 0.8 of its mass: the trainer renormalizes them to sum to 1.
const TEACHER = { k: 4, ids: Int32Array.from([TOKENS[LAST]!, 100, 2000, 31000]), probs: Float32Array.from([0.4, 0.2, 0.15, 0.05]) };
const WEIGHTS = Array.from(TEACHER.probs, (p) => p / 0.8);

let trainer: LoraTrainer;
let dir: string;

beforeAll(async () => {
  trainer = await LoraTrainer.create(await tinyModelPath(SPEC), { threads: TEST_THREADS });
  dir = outputDir('distillation');
});
afterAll(() => trainer?.dispose());

/** -log softmax(row)[id] for the logits row that predicts the last token. */
async function nllAtLast(tokens: number[]): Promise<(id: number) => number> {
  const logits = await trainer.logits(tokens);
  const nVocab = logits.length / tokens.length;
  const row = logits.subarray((LAST - 1) * nVocab, LAST * nVocab);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return (id) => max + Math.log(sum) - row[id]!;
}

/** The loss the trainer should report before its first step (B = 0: the base model). */
async function closedFormLoss(weight: number): Promise<number> {
  const nll = await nllAtLast(TOKENS);
  const soft = Array.from(TEACHER.ids).reduce((s, id, j) => s + WEIGHTS[j]! * nll(id), 0);
  return (1 - weight) * nll(TOKENS[LAST]!) + weight * soft;
}

const sequence = (teacher = TEACHER): TokenSequence => ({ tokens: TOKENS, lossMask: MASK, teacher });

describe('soft targets in the native trainer', () => {
  it('reports the closed-form soft cross-entropy, mixed with the next token by distillWeight', async () => {
    for (const weight of [1, 0.3]) {
      const result = await trainer.train({ sequences: [sequence()], lr: 1e-4, outPath: join(dir, `w${weight}.gguf`), distillWeight: weight });
      const expected = await closedFormLoss(weight);
      // The training graph keeps K and V in F32, the logits call rounds them to F16 as llama.cpp does.
      expect(Math.abs(result.losses[0]! - expected)).toBeLessThan(1e-3 * expected);
    }
    // Pure distillation and pure next-token differ here, so the mix is really applied.
    expect(Math.abs((await closedFormLoss(1)) - (await closedFormLoss(0)))).toBeGreaterThan(0.1);
  });

  it('a teacher certain of the next token is next-token training, byte for byte', async () => {
    const plain = join(dir, 'plain.gguf');
    const oneHot = join(dir, 'one-hot.gguf');
    const options = { lr: 1e-2, epochs: 3, seed: 5 };
    await trainer.train({ ...options, sequences: [{ tokens: TOKENS, lossMask: MASK }], outPath: plain });
    // 0.5 of the mass on the next token, renormalized to 1.
    await trainer.train({ ...options, sequences: [sequence({ k: 1, ids: Int32Array.from([TOKENS[LAST]!]), probs: Float32Array.from([0.5]) })], outPath: oneHot });
    expect(readFileSync(oneHot).equals(readFileSync(plain))).toBe(true);
  });

  it("the first step moves each weight against finite differences of the soft loss", async () => {
    // A start with random A and B (alpha = rank: scale 1), so that B has a gradient of its own.
    const rank = 2;
    let seed = 7;
    const random = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed / 2 ** 32 - 0.5) * 0.2; };
    const start = new Map<string, LoraTensor>();
    for (let l = 0; l < SPEC.nLayer; l++) {
      start.set(`blk.${l}.ffn_up.weight.lora_a`, { shape: [SPEC.nEmbd, rank], data: Float32Array.from({ length: SPEC.nEmbd * rank }, random) });
      start.set(`blk.${l}.ffn_up.weight.lora_b`, { shape: [rank, SPEC.nFf], data: Float32Array.from({ length: rank * SPEC.nFf }, random) });
    }
    const writeAdapter = (path: string, tensors: Map<string, LoraTensor>) => writeLoraTensors(path, SPEC.arch, rank, tensors);
    const startPath = join(dir, 'start.gguf');
    writeAdapter(startPath, start);

    // AdamW's first step is -lr * g / (|g| + eps): each weight moves by lr against its gradient's sign.
    const stepped = join(dir, 'stepped.gguf');
    await trainer.train({ sequences: [sequence()], init: startPath, lr: 1e-3, weightDecay: 0, epochs: 1, outPath: stepped });
    const after = await readLoraTensors(stepped);

    // The soft loss at any adapter, from the trainer's own loss of each teacher token.
    const softLoss = async (path: string) => {
      let total = 0;
      for (const [j, id] of Array.from(TEACHER.ids).entries()) {
        total += WEIGHTS[j]! * await trainer.loss([{ tokens: [...TOKENS.slice(0, LAST), id], lossMask: MASK }], [{ path }]);
      }
      return total;
    };
    const name = 'blk.1.ffn_up.weight.lora_b';
    const h = 0.05;
    let checked = 0;
    for (const index of [0, 3, 17, 40, 77, 101, 128, 150, 199, 230, 255]) {
      const probe = (delta: number) => {
        const values = new Map(start);
        const changed = start.get(name)!.data.slice();
        changed[index]! += delta;
        values.set(name, { shape: start.get(name)!.shape, data: changed });
        const path = join(dir, `probe-${index}-${delta > 0 ? 'plus' : 'minus'}.gguf`);
        writeAdapter(path, values);
        return softLoss(path);
      };
      const gradient = ((await probe(h)) - (await probe(-h))) / (2 * h);
      const moved = after.get(name)!.data[index]! - start.get(name)!.data[index]!;
      if (Math.abs(gradient) < 1e-3) continue; // too flat for F16-rounded K/V to tell its sign
      checked++;
      expect(Math.sign(moved), `weight ${index}: gradient ${gradient}, moved ${moved}`).toBe(-Math.sign(gradient));
      expect(Math.abs(moved)).toBeCloseTo(1e-3, 4);
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('refuses teachers that do not fit their sequence', async () => {
    const outPath = join(dir, 'bad.gguf');
    await expect(trainer.train({ sequences: [sequence({ k: 4, ids: TEACHER.ids.slice(0, 3), probs: TEACHER.probs })], outPath })).rejects.toThrow(/4 ids .* for each of its 1 targets/);
    await expect(trainer.train({ sequences: [sequence({ k: 2, ids: Int32Array.from([1, 99_999_999]), probs: Float32Array.from([0.5, 0.5]) })], outPath })).rejects.toThrow(/outside the vocabulary/);
    await expect(trainer.train({ sequences: [sequence({ k: 2, ids: Int32Array.from([1, 2]), probs: Float32Array.from([0.9, 0.9]) })], outPath })).rejects.toThrow(/sum to more than 0 and at most 1/);
    await expect(trainer.train({ sequences: [{ tokens: TOKENS, teacher: TEACHER }], outPath })).rejects.toThrow(/no lossMask/);
    await expect(trainer.train({ sequences: [sequence()], outPath, distillWeight: 2 })).rejects.toThrow(/distillWeight/);
  });
});
