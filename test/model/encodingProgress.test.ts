// What a user sees of encoding from its first second (the stage of the passage being encoded,
// then a rate and the time left), and the encoding policy: all, on demand, paused.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import type { EncodeProgress } from '../../electron/core/encoding/passageEncoder.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

let dir: string;
let modelPath: string;

const RECORDS = [
  { id: 'orla', title: 'Orla Venkatesh', text: 'Orla Venkatesh was born in Marrowgate. She studied marine biology at the University of Tessaly.' },
  { id: 'bram', title: 'Bram Oduya', text: 'Bram Oduya was born in Quillon. He works for Granite Arch Builders in Velmora.' },
  { id: 'sefa', title: 'Sefa Lindqvist', text: 'Sefa Lindqvist was born in Harrowfield. She studied astronomy at Corrin College.' },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-encoding-progress-'));
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A knowledge base in its own folder holding `records`, encoded with `epochs` epochs; the engine stays open. */
async function knowledgeBase(name: string, records: typeof RECORDS, epochs: number): Promise<{ dataDir: string; engine: Engine }> {
  const dataDir = join(dir, name);
  const engine = await Engine.open({ dataDir, modelPath, useGpu: false });
  engine.afterImport(engine.importer.importRecords(records));
  await engine.updateSettings({ epochs });
  return { dataDir, engine };
}

describe('encoding progress', () => {
  it('shows the running job and its augmentation from the start, then training steps, then a rate and the time left', async () => {
    const { dataDir, engine } = await knowledgeBase('progress', RECORDS.slice(0, 2), 1);
    const events: EncodeProgress[] = [];
    const seenWhileAugmenting: string[] = [];
    const session = await openEncodingSession({
      dataDir, modelPath, threads: 1, useGpu: false,
      onProgress: (p) => {
        events.push(p);
        // What the app's queue shows at that moment (from the database, as the engine reads it).
        if (p.step === 'augmenting' && p.detail?.includes('tokens written')) seenWhileAugmenting.push(engine.jobs.status(engine.baseModel).current?.step ?? 'nothing');
      },
    });
    try {
      const status = () => engine.jobs.status(engine.baseModel);
      let afterFirst: ReturnType<typeof status> | null = null;
      await session.encoder.runQueue({ onEncoded: () => { afterFirst ??= status(); } });
      // Augmentation (both passages in one batch) was visible as the running job's progress.
      expect(seenWhileAugmenting.length).toBeGreaterThan(0);
      expect(seenWhileAugmenting[0]).toMatch(/^augmenting: \d+ of about \d+ tokens written \(2 passages together\)$/);
      const firstTraining = events.findIndex((e) => e.step === 'training');
      expect(events.slice(0, firstTraining).every((e) => e.step === 'augmenting')).toBe(true);
      expect(events.filter((e) => e.step === 'training' && /^step \d+ of \d+$/.test(e.detail ?? '')).length).toBeGreaterThan(0);
      const progress = events.filter((e) => e.job.id === events[0]!.job.id).map((e) => e.progress);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      // One passage done: a rate, and the time left for the other.
      expect(afterFirst!.secondsPerPassage).toBeGreaterThan(0);
      expect(afterFirst!.etaSeconds).toBeGreaterThan(0);
      expect(status()).toMatchObject({ done: 2, etaSeconds: null });
    } finally {
      await session.close();
      await engine.close();
    }
  });
});

describe('augmentation beside training', () => {
  // Job by job: which jobs showed an augmenting step, and the adapters' bytes.
  async function encodeAll(name: string, threads: number): Promise<{ augmentingJobs: number; adapters: string[]; seconds: (number | null)[] }> {
    const { dataDir, engine } = await knowledgeBase(name, RECORDS, 1);
    await engine.close();
    const augmenting = new Set<number>();
    const session = await openEncodingSession({
      dataDir, modelPath, threads, useGpu: false, config: { augmentBatch: 1 },
      onProgress: (p) => { if (p.step === 'augmenting') augmenting.add(p.job.id); },
    });
    try {
      const paths: string[] = [];
      expect(await session.encoder.runQueue({ onEncoded: (e) => paths.push(e.path) })).toBe(3);
      const seconds = session.db.prepare('SELECT seconds FROM jobs ORDER BY id').pluck().all() as (number | null)[];
      return { augmentingJobs: augmenting.size, adapters: paths.map((p) => createHash('sha256').update(readFileSync(p)).digest('hex')), seconds };
    } finally {
      await session.close();
    }
  }

  it('with two threads the next passage is augmented while one trains, and the adapters are the same', async () => {
    const together = await encodeAll('ahead', 2);
    const inTurn = await encodeAll('in-turn', 1);
    // One thread: each job augments its own passage first. Two: only the first job does; the
    // others find their augmentation written while the previous passage trained.
    expect(inTurn.augmentingJobs).toBe(3);
    expect(together.augmentingJobs).toBe(1);
    expect(together.adapters).toEqual(inTurn.adapters);
    for (const s of [...together.seconds, ...inTurn.seconds]) expect(s).toBeGreaterThan(0);
  });
});

describe('pausing for answers', () => {
  it('stops augmentation before its next token and training before its next sequence, goes on after, and a stop ends a pause', async () => {
    const { dataDir, engine } = await knowledgeBase('pause', RECORDS.slice(0, 1), 2);
    await engine.close();
    const events: EncodeProgress[] = [];
    let pauseAtTraining = true;
    const session = await openEncodingSession({
      dataDir, modelPath, threads: 1, useGpu: false,
      onProgress: (p) => {
        events.push(p);
        // Reported just before the trainer starts: the training starts paused.
        if (p.step === 'training' && !p.detail?.startsWith('step') && pauseAtTraining) session.encoder.pauseForAnswers(true);
      },
    });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // A stop while paused puts the job back at once.
      session.encoder.pauseForAnswers(true);
      const stop = new AbortController();
      const stopped = session.encoder.runQueue({ signal: stop.signal });
      await sleep(300);
      stop.abort();
      expect(await stopped).toBe(0);
      expect(session.jobs.status(session.encoder.baseModel)).toMatchObject({ queued: 1, running: 0, done: 0 });

      // Paused before the first token: the job shows as augmenting, and nothing is written.
      events.length = 0;
      session.encoder.pauseForAnswers(true);
      const running = session.encoder.runQueue();
      await sleep(600);
      expect(events.map((e) => [e.step, e.progress])).toEqual([['augmenting', 0.05]]);
      session.encoder.pauseForAnswers(false);
      while (!events.some((e) => e.step === 'training')) await sleep(20);
      // Paused as training starts: no step for as long as the pause lasts.
      await sleep(600);
      expect(events.filter((e) => e.step === 'training').map((e) => e.detail)).toEqual(['next-token, 2 epochs']);
      pauseAtTraining = false;
      session.encoder.pauseForAnswers(false);
      // (Step reports that land after the training ended are dropped, so they are not counted here.)
      expect(await running).toBe(1);
      expect(events.at(-1)!.step).toBe('done');
    } finally {
      await session.close();
    }
  });
});

describe('encoding policy', () => {
  it('encodes all passages, only those that questions retrieve, or none for now', async () => {
    let notified = 0;
    const answering: boolean[] = [];
    let answered: () => void = () => undefined;
    const engine = await Engine.open({
      dataDir: join(dir, 'policy'), modelPath, useGpu: false,
      createEncoder: () => ({ notify: () => { notified++; }, answering: (active) => void answering.push(active), close: async () => undefined }),
      events: (event) => { if (event === 'answerDone' || event === 'answerError') answered(); },
    });
    try {
      const queued = () => engine.db.prepare("SELECT passage_id FROM jobs WHERE state = 'queued' ORDER BY passage_id").pluck().all() as number[];
      await engine.updateSettings({ encodingPolicy: 'on-demand' });
      const report = engine.importer.importRecords(RECORDS);
      engine.afterImport(report);
      const ids = report.documentIds.flatMap((id) => engine.documents.passageIdsOf(id));
      // Nothing queued by the import, but its cost is said (a guess: nothing was encoded yet).
      expect(queued()).toEqual([]);
      expect(report.encoding).toMatchObject({ passages: 3, measured: false });
      expect(report.encoding!.seconds).toBeGreaterThan(0);
      // A question queues the passages it retrieves, and wakes the encoder.
      const chat = await engine.createChat('Bram');
      const before = notified;
      const done = new Promise<void>((resolve) => { answered = resolve; });
      await engine.ask({ chatId: chat.id, question: 'Where was Bram Oduya born?', mode: 'auto', k: 3 });
      await done;
      expect(queued()).toEqual([ids[1]]);
      expect(notified).toBeGreaterThan(before);
      // The encoder was paused for the answer, and resumed after.
      expect(answering).toEqual([true, false]);
      await engine.updateSettings({ encodingPolicy: 'all' });
      expect(queued()).toEqual(ids);
      await engine.updateSettings({ encodingPolicy: 'on-demand' });
      expect(queued()).toEqual([ids[1]]);
      // Pausing stops the encoder and remembers the policy to resume to.
      await engine.pauseEncoding();
      expect((await engine.getEncodingQueue()).paused).toBe(true);
      expect(engine.settings.get().encodingPolicy).toBe('paused');
      await engine.resumeEncoding();
      expect(engine.settings.get().encodingPolicy).toBe('on-demand');
      expect((await engine.getEncodingQueue()).paused).toBe(false);
      // Loading the model again queues nothing in bulk under on demand.
      await engine.openModel(modelPath);
      expect(queued()).toEqual([ids[1]]);
    } finally {
      await engine.close();
    }
  });
});
