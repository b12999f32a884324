// Parametric encoding on a tiny model: adapters lower the loss on their passage's QA sequences,
// the queue survives a killed encoder, bad adapters are refused, auto mode mixes adapters and
// context.
import { fork } from 'node:child_process';
import { readdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import { augmentPassage, type Augmentation } from '../../electron/core/encoding/augmentation.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import { buildTrainingSequences } from '../../electron/core/encoding/trainingSequences.js';
import { repoRoot } from '../../scripts/llama-source.js';
import type { FromEncoder } from '../../electron/node/encoderMessages.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

let dir: string;
let modelPath: string;
let engine: Engine;
let passageIds: number[];

const AUGMENTATION: Augmentation = {
  rewrite: 'Marrowgate is the birthplace of Orla Venkatesh, who studied marine biology at the University of Tessaly.',
  qa: [
    { question: 'Where was Orla Venkatesh born?', answer: 'Marrowgate' },
    { question: 'What did Orla Venkatesh study?', answer: 'marine biology' },
    { question: 'Which university did Orla Venkatesh attend?', answer: 'University of Tessaly' },
  ],
  warnings: [],
};

function encoderRun(dataDir: string, onMessage: (m: FromEncoder, kill: () => void) => void): Promise<number | null> {
  const worker = fork(join(repoRoot, 'dist', 'electron', 'node', 'encoderWorker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, PARAMKB_GPU: '0' } });
  worker.on('message', (m) => {
    const message = m as FromEncoder;
    onMessage(message, () => worker.kill('SIGKILL'));
    if (message.type === 'idle') worker.send({ type: 'stop' });
  });
  // At normal priority: the other test files running beside this one must not starve it (the
  // background priority has its own test in encoderProcess.test.ts).
  worker.send({ type: 'start', args: { dataDir, modelPath, threads: 2, useGpu: false, background: false } });
  return new Promise((resolve) => worker.on('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-encoding-'));
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
  engine = await Engine.open({ dataDir: join(dir, 'kb'), modelPath, useGpu: false });
  const report = engine.importer.importRecords([
    { id: 'orla', title: 'Orla Venkatesh', text: 'Orla Venkatesh was born in Marrowgate. She studied marine biology at the University of Tessaly.' },
    { id: 'bram', title: 'Bram Oduya', text: 'Bram Oduya was born in Quillon. He works for Granite Arch Builders in Velmora.' },
    { id: 'sefa', title: 'Sefa Lindqvist', text: 'Sefa Lindqvist was born in Harrowfield. She studied astronomy at Corrin College.' },
  ]);
  passageIds = report.documentIds.flatMap((id) => engine.documents.passageIdsOf(id));
  // Stored augmentations: the random-weight model writes no usable QA, and generating it would
  // only slow the tests (augmentPassage's own fallbacks are tested below).
  for (const id of passageIds) engine.documents.setAugmentation(id, JSON.stringify(AUGMENTATION));
  await engine.updateSettings({ learningRate: 1e-2, epochs: 3 });
});
afterAll(async () => {
  await engine?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('parametric encoding', () => {
  it('an adapter lowers the loss on its passage QA sequences', async () => {
    const session = await openEncodingSession({ dataDir: engine.dataDir, modelPath, threads: 2, useGpu: false });
    try {
      session.jobs.enqueue([passageIds[0]!], session.runtime.fingerprint);
      expect(await session.encoder.runQueue()).toBe(1);
    } finally {
      await session.close();
    }
    const runtime = engine.requireRuntime();
    const [adapterPath] = engine.adapters.adaptersFor([passageIds[0]!]).values();
    expect(adapterPath).toBeDefined();
    const passage = engine.documents.passagesByIds([passageIds[0]!])[0]!;
    const sequences = buildTrainingSequences(runtime, passage.text, AUGMENTATION);
    expect(sequences.map((s) => s.kind)).toEqual(['passage', 'rewrite', 'passage', 'rewrite', 'closed-book']);
    // No loss on the prompt's fixed head: what comes before the first target is the same in the
    // four sequences with a context, then every token is a target.
    const heads = sequences.map((s) => s.tokens.slice(0, s.lossMask.indexOf(1)));
    expect(heads.every((h) => h.length > 1)).toBe(true);
    expect(new Set(heads.slice(0, 4).map((h) => h.join())).size).toBe(1);
    for (const s of sequences) expect(s.lossMask.slice(s.lossMask.indexOf(1)).every((m) => m === 1)).toBe(true);
    // A set of steps: P with the passage, R with the rewrite (the passage without one), C closed-book.
    const steps = buildTrainingSequences(runtime, passage.text, AUGMENTATION, 'P1,C1,R2,C2,C3');
    expect(steps.map((s) => s.kind)).toEqual(['passage', 'closed-book', 'rewrite', 'closed-book', 'closed-book']);
    expect([steps[0], steps[2], steps[4]].map((s) => s!.tokens)).toEqual([sequences[0]!.tokens, sequences[3]!.tokens, sequences[4]!.tokens]);
    expect(buildTrainingSequences(runtime, passage.text, { ...AUGMENTATION, rewrite: null }, 'P1,R2,C3').map((s) => s.kind)).toEqual(['passage', 'passage', 'closed-book']);
    // Steps of pairs the augmentation lacks are skipped.
    expect(buildTrainingSequences(runtime, passage.text, { ...AUGMENTATION, qa: AUGMENTATION.qa.slice(0, 1) }, 'P1,C1,P2,C2').map((s) => s.kind)).toEqual(['passage', 'closed-book']);
    let before = 0;
    let after = 0;
    for (const s of sequences) {
      before += await runtime.meanNll(s.tokens);
      after += await runtime.meanNll(s.tokens, [{ filePath: adapterPath!, scale: 1 }]);
    }
    expect(after).toBeLessThan(before * 0.9);
    const row = engine.db.prepare('SELECT rank, alpha, train_loss FROM adapters WHERE passage_id = ?').get(passageIds[0]) as { rank: number; alpha: number; train_loss: number };
    expect(row).toMatchObject({ rank: 2, alpha: 32 });
    expect(row.train_loss).toBeGreaterThan(0);
  });

  it('auto mode applies adapters where they exist and puts the other passages in the prompt', async () => {
    const result = await engine.answerOnce({ question: 'Where was Orla Venkatesh born? Bram Oduya? Sefa Lindqvist?', mode: 'auto', k: 3, maxTokens: 4 });
    const uses = Object.fromEntries(result.sources.map((s) => [s.documentTitle, s.usedAs]));
    expect(uses).toEqual({ 'Orla Venkatesh': 'adapter', 'Bram Oduya': 'context', 'Sefa Lindqvist': 'context' });
    // The passages without adapters were moved up the queue.
    const queued = engine.db.prepare("SELECT passage_id, priority FROM jobs WHERE state = 'queued' ORDER BY passage_id").all() as { passage_id: number; priority: number }[];
    expect(queued.map((q) => q.passage_id)).toEqual([passageIds[1], passageIds[2]]);
    expect(queued.every((q) => q.priority > 0)).toBe(true);
    const parametric = await engine.answerOnce({ question: 'Where was Orla Venkatesh born?', mode: 'parametric', k: 3, maxTokens: 4 });
    expect(parametric.sources.map((s) => [s.documentTitle, s.usedAs])).toEqual([['Orla Venkatesh', 'adapter']]);
  });

  it('combine answers from the passages and from the adapters, and keeps the answer both find likelier', async () => {
    const options = { question: 'Where was Orla Venkatesh born?', k: 3, maxTokens: 6 };
    const context = await engine.answerOnce({ ...options, mode: 'context' });
    const parametric = await engine.answerOnce({ ...options, mode: 'parametric' });
    const streamed: string[] = [];
    const combined = await engine.answerOnce({ ...options, mode: 'combine', onText: (t) => streamed.push(t) });
    // Only Orla's passage matched the question (the others share only words found in most passages).
    expect(Object.fromEntries(combined.sources.map((s) => [s.documentTitle, s.usedAs]))).toEqual({ 'Orla Venkatesh': 'both' });
    const candidates = combined.candidates!;
    expect(candidates.passages.answer).toBe(context.answer);
    expect(candidates.adapters.answer).toBe(parametric.answer);
    // The tiny model's two answers differ, so both were scored.
    expect(candidates.passages.answer).not.toBe(candidates.adapters.answer);
    expect(candidates.passages.logProb).toBeLessThan(0);
    expect(candidates.adapters.logProb).toBeLessThan(0);
    expect(candidates.kept).toBe(candidates.adapters.logProb! > candidates.passages.logProb! ? 'adapters' : 'passages');
    expect(combined.answer).toBe(candidates[candidates.kept].answer);
    expect(streamed.join('')).toBe(combined.text);
    expect(combined.generation.promptTokens).toBe(context.generation.promptTokens + parametric.generation.promptTokens);
    // A chat keeps both answers with the message (the UI says which was kept).
    const chat = engine.chats.create('combine');
    engine.chats.addMessage(chat.id, { role: 'assistant', text: combined.text, mode: 'combine', sources: combined.sources, candidates });
    engine.chats.addMessage(chat.id, { role: 'assistant', text: context.text, mode: 'context', sources: context.sources });
    expect(engine.chats.messages(chat.id).map((m) => m.candidates)).toEqual([candidates, null]);
    // Without any adapter among the passages, combine is context.
    const bram = { question: 'Where does Bram Oduya work?', k: 1, maxTokens: 6 };
    const alone = await engine.answerOnce({ ...bram, mode: 'combine' });
    expect(alone.candidates).toBeUndefined();
    expect(alone.sources.map((s) => s.usedAs)).toEqual(['context']);
    expect(alone.text).toBe((await engine.answerOnce({ ...bram, mode: 'context' })).text);
  });

  it('the queue survives an encoder killed mid-job: no lost job, no second adapter, no half file', async () => {
    await engine.updateSettings({ epochs: 50 });
    let target: number | null = null;
    const code = await encoderRun(engine.dataDir, (m, kill) => {
      if (m.type === 'progress' && m.step === 'training' && m.progress > 0.5 && target === null) { target = m.passageId; kill(); }
    });
    expect(code).toBeNull(); // killed by the signal
    expect([passageIds[1], passageIds[2]]).toContain(target);
    const running = engine.db.prepare('SELECT state, attempts FROM jobs WHERE passage_id = ?').get(target);
    expect(running).toEqual({ state: 'running', attempts: 1 });
    await engine.updateSettings({ epochs: 3 });
    const encoded: number[] = [];
    expect(await encoderRun(engine.dataDir, (m) => { if (m.type === 'encoded') encoded.push(m.passageId); })).toBe(0);
    expect(encoded.sort()).toEqual([passageIds[1], passageIds[2]]);
    const rows = engine.db.prepare('SELECT passage_id, COUNT(*) AS n FROM adapters GROUP BY passage_id').all() as { n: number }[];
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(engine.db.prepare('SELECT state, attempts FROM jobs WHERE passage_id = ?').get(target)).toEqual({ state: 'done', attempts: 2 });
    const files = readdirSync(join(engine.dataDir, 'adapters', engine.baseModel!));
    expect(files.sort()).toEqual(passageIds.map((id) => `${id}.gguf`).sort());
  });

  it('refuses a corrupt adapter and one made for another base model, and queues the passage again', async () => {
    const [id0, id1] = passageIds as [number, number];
    const path = engine.adapters.adaptersFor([id0]).get(id0)!;
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(path, bytes);
    expect(engine.adapters.adaptersFor([id0]).size).toBe(0);
    expect(engine.db.prepare('SELECT COUNT(*) AS n FROM adapters WHERE passage_id = ?').get(id0)).toEqual({ n: 0 });
    expect(engine.db.prepare("SELECT state FROM jobs WHERE passage_id = ? AND state = 'queued'").get(id0)).toEqual({ state: 'queued' });
    // An adapter row of another base model is never used for this one.
    engine.db.prepare("UPDATE adapters SET base_model = 'another-model' WHERE passage_id = ?").run(id1);
    expect(engine.adapters.adaptersFor([id1]).size).toBe(0);
    await expect(engine.answerOnce({ question: 'Where was Orla Venkatesh born?', mode: 'parametric', k: 1 })).rejects.toMatchObject({ code: 'no-adapters' });
  });

  it('augmentation of unusable model output falls back with warnings, within its token budget', async () => {
    const runtime = engine.requireRuntime();
    const result = await augmentPassage(runtime, 'Orla Venkatesh was born in Marrowgate.', { attempts: 2, qaMaxTokens: 24, rewriteMaxTokens: 16 });
    expect(result.qa.length).toBeLessThan(3);
    expect(result.warnings.some((w) => w.includes('QA pairs after 2 attempts'))).toBe(true);
    const sequences = buildTrainingSequences(runtime, 'Orla Venkatesh was born in Marrowgate.', { rewrite: null, qa: [], warnings: [] });
    expect(sequences.map((s) => s.kind)).toEqual(['passage']);
    expect(sequences[0]!.lossMask.every((m) => m === 1)).toBe(true);  // no template, no head
  });

  it('deleting a document deletes its adapters', async () => {
    const id2 = passageIds[2]!;
    const path = engine.adapters.adaptersFor([id2]).get(id2)!;
    const documentId = engine.documents.passagesByIds([id2])[0]!.documentId;
    await engine.deleteDocument(documentId);
    expect(() => readFileSync(path)).toThrow();
    expect(engine.db.prepare('SELECT COUNT(*) AS n FROM adapters WHERE passage_id = ?').get(id2)).toEqual({ n: 0 });
  });
});
