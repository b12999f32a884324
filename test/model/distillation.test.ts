// Context distillation through the whole encoding pipeline on the world model (a small trained
// model: a random-weight one has no reading to distil): the teacher (the base model with the
// passage in the prompt) labels the answers of the student sequences (the question alone), and
// the adapter trained on them moves the student's answers towards the teacher's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import type { Augmentation } from '../../electron/core/encoding/augmentation.js';
import { buildDistillationSequences, type DistillationSequence } from '../../electron/core/encoding/distillation.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import type { EncodedPassage } from '../../electron/core/encoding/passageEncoder.js';
import type { AdapterApplication } from '../../electron/core/llm/loraBinding.js';
import { repoRoot } from '../../scripts/llama-source.js';

const PASSAGE = 'Orla Venkatesh was born in Marrowgate. She studied marine biology at the University of Tessaly.';
const AUGMENTATION: Augmentation = {
  rewrite: null,
  qa: [
    { question: 'Where was Orla Venkatesh born?', answer: 'Marrowgate' },
    { question: 'What did Orla Venkatesh study?', answer: 'marine biology' },
    { question: 'Which university did Orla Venkatesh attend?', answer: 'University of Tessaly' },
  ],
  warnings: [],
};
const K = 8;

let dir: string;
let engine: Engine;
let sequences: DistillationSequence[];
let encoded: EncodedPassage[] = [];
let adapter: AdapterApplication[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-distill-'));
  const modelPath = resolve(repoRoot, '..', 'shared', 'world', 'model', 'world-20m-f16.gguf');
  engine = await Engine.open({ dataDir: join(dir, 'kb'), modelPath, useGpu: false });
  const report = engine.importer.importRecords([{ id: 'orla', title: 'Orla Venkatesh', text: PASSAGE }]);
  const passageId = engine.documents.passageIdsOf(report.documentIds[0]!)[0]!;
  // A stored augmentation, so that the test does not depend on what the model writes.
  engine.db.prepare('UPDATE passages SET augmentation = ? WHERE id = ?').run(JSON.stringify(AUGMENTATION), passageId);
  sequences = await buildDistillationSequences(engine.requireRuntime(), PASSAGE, AUGMENTATION, K);

  const session = await openEncodingSession({
    dataDir: engine.dataDir, modelPath, threads: 1, useGpu: false,
    config: { objective: 'distill', distillTopK: K, lr: 2e-3, epochs: 5 },
  });
  try {
    session.jobs.enqueue([passageId], session.runtime.fingerprint);
    const done: EncodedPassage[] = [];
    await session.encoder.runQueue({ onEncoded: (e) => done.push(e) });
    encoded = done;
  } finally {
    await session.close();
  }
  adapter = [{ filePath: engine.adapters.adaptersFor([passageId]).get(passageId)!, scale: 1 }];
}, 600_000);

afterAll(async () => {
  await engine?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** For each target of a student sequence: the student's log-softmax row (with or without the adapter). */
async function studentRows(seq: DistillationSequence, adapters: AdapterApplication[]): Promise<Float32Array[]> {
  const positions = seq.lossMask.flatMap((m, i) => (m === 1 ? [i - 1] : []));
  const rows = await engine.requireRuntime().logitsAt(seq.tokens, positions, adapters);
  return rows.map((row) => {
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const log = Math.log(sum) + max;
    return row.map((v) => v - log);
  });
}

/**
 * KL divergence from the teacher's renormalized top-k to the student (the soft cross-entropy
 * less the teacher's entropy), and the share of targets where the student's argmax is the
 * teacher's.
 */
async function agreement(adapters: AdapterApplication[]): Promise<{ kl: number; sameArgmax: number }> {
  let kl = 0;
  let same = 0;
  let targets = 0;
  for (const seq of sequences) {
    const rows = await studentRows(seq, adapters);
    rows.forEach((row, r) => {
      const ids = seq.teacher.ids.subarray(r * K, (r + 1) * K);
      const probs = seq.teacher.probs.subarray(r * K, (r + 1) * K);
      const mass = probs.reduce((a, b) => a + b, 0);
      ids.forEach((id, j) => { const q = probs[j]! / mass; kl += q * (Math.log(q) - row[id]!); });
      let argmax = 0;
      for (let i = 1; i < row.length; i++) if (row[i]! > row[argmax]!) argmax = i;
      if (argmax === ids[0]) same++;
      targets++;
    });
  }
  return { kl: kl / targets, sameArgmax: same / targets };
}

describe('context distillation', () => {
  it('labels each answer token of the question-only sequences with the teacher, which saw the passage', () => {
    expect(sequences).toHaveLength(3);
    const runtime = engine.requireRuntime();
    for (const seq of sequences) {
      const targets = seq.lossMask.filter((m) => m === 1).length;
      expect(seq.teacher.ids).toHaveLength(targets * K);
      // The student never sees the passage.
      expect(runtime.model.detokenize(seq.tokens)).not.toContain('studied marine biology at');
      for (let r = 0; r < targets; r++) {
        const row = seq.teacher.probs.subarray(r * K, (r + 1) * K);
        expect(row.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-5);
        for (let j = 1; j < K; j++) expect(row[j]!).toBeLessThanOrEqual(row[j - 1]!);
      }
    }
  });

  it('trains an adapter on the student sequences alone', () => {
    expect(encoded).toHaveLength(1);
    expect(encoded[0]!.teacherSeconds).toBeGreaterThan(0);
    // 3 sequences x 5 epochs, each of a question and an answer.
    expect(encoded[0]!.trainTokens).toBe(sequences.reduce((n, s) => n + s.tokens.length, 0) * 5);
    expect(encoded[0]!.losses.at(-1)!).toBeLessThan(encoded[0]!.losses[0]!);
  });

  it("moves the student's answers towards the teacher's", async () => {
    const before = await agreement([]);
    const after = await agreement(adapter);
    expect(after.kl).toBeLessThan(0.5 * before.kl);
    expect(after.sameArgmax).toBeGreaterThan(before.sameArgmax);
    expect(after.sameArgmax).toBeGreaterThanOrEqual(0.8);
  });
});
