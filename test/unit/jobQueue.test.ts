import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DocumentStore } from '../../electron/core/database/documentStore.js';
import { AdapterStore } from '../../electron/core/encoding/adapterStore.js';
import { JobQueue, MAX_ATTEMPTS } from '../../electron/core/encoding/jobQueue.js';
import { Importer } from '../../electron/core/ingest/importer.js';
import { SettingsStore } from '../../electron/core/settingsStore.js';
import { estimateEncoding } from '../../electron/core/encoding/encodingEstimate.js';

let dir: string;
let db: Db;
let jobs: JobQueue;
let passages: number[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-jobs-'));
  db = openDatabase(join(dir, 'kb.sqlite'));
  const documents = new DocumentStore(db, () => 'model-a');
  const report = new Importer(db, documents).importRecords([1, 2, 3].map((i) => ({ id: String(i), title: `T${i}`, text: `Passage ${i}.` })));
  passages = report.documentIds.flatMap((id) => documents.passageIdsOf(id));
  jobs = new JobQueue(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('job queue', () => {
  it('queues each passage once per base model and claims in priority order', () => {
    expect(jobs.enqueue(passages, 'model-a')).toBe(3);
    expect(jobs.enqueue(passages, 'model-a')).toBe(0);
    jobs.prioritize([passages[2]!], 'model-a');
    expect(jobs.claim('model-a')?.passageId).toBe(passages[2]);
    expect(jobs.claim('model-a')?.passageId).toBe(passages[0]);
    expect(jobs.claim('model-b')).toBeNull();
    expect(jobs.status('model-a')).toMatchObject({ queued: 1, running: 2, done: 0, total: 3 });
  });

  it('takes the latest import first, each import in its order, after what questions asked for', async () => {
    jobs.enqueue([passages[0]!], 'model-a');
    await new Promise((resolve) => setTimeout(resolve, 5));  // a later import
    jobs.enqueue([passages[1]!, passages[2]!], 'model-a');
    expect(jobs.claim('model-a')?.passageId).toBe(passages[1]);
    jobs.prioritize([passages[0]!], 'model-a');
    expect(jobs.claim('model-a')?.passageId).toBe(passages[0]);
    expect(jobs.claim('model-a')?.passageId).toBe(passages[2]);
  });

  it('puts jobs of a dead worker back in the queue, then fails them after their attempts', () => {
    jobs.enqueue([passages[0]!], 'model-a');
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const job = jobs.claim('model-a');
      expect(job?.attempts).toBe(attempt);
      jobs.recoverInterrupted(); // the worker died during the job
    }
    expect(jobs.claim('model-a')).toBeNull();
    expect(jobs.status('model-a')).toMatchObject({ failed: 1, queued: 0, running: 0 });
  });

  it('completes atomically with the adapter row, and retries failures up to the limit', () => {
    jobs.enqueue(passages, 'model-a');
    const job = jobs.claim('model-a')!;
    expect(() => jobs.complete(job.id, () => { throw new Error('disk full'); })).toThrow('disk full');
    expect(jobs.status('model-a').running).toBe(1); // nothing was committed
    jobs.complete(job.id, () => undefined);
    expect(jobs.status('model-a').done).toBe(1);
    const failing = jobs.claim('model-a')!;
    jobs.fail(failing.id, 'boom', true);
    expect(jobs.status('model-a')).toMatchObject({ queued: 2, failed: 0 });
    jobs.claim('model-a'); // the other queued job comes first: the failed one went to the back
    const again = jobs.claim('model-a')!;
    expect(again.id).toBe(failing.id);
    jobs.fail(again.id, 'bad input', false);
    expect(jobs.status('model-a').failed).toBe(1);
  });

  it('pauses, cancels, and releases an interrupted job without counting the attempt', () => {
    jobs.enqueue(passages, 'model-a');
    new SettingsStore(db, dir).update({ encodingPolicy: 'paused' });
    expect(jobs.isPaused()).toBe(true);
    expect(jobs.status('model-a').paused).toBe(true);
    const job = jobs.claim('model-a')!;
    jobs.release(job.id);
    expect(jobs.claim('model-a')).toMatchObject({ id: job.id, attempts: 1 });
    expect(jobs.cancel(null)).toBe(2);
    expect(jobs.isStillRunning(job.id)).toBe(true);
  });

  it('gives a rate and the time left as soon as one passage is done, from what each job cost', () => {
    jobs.enqueue(passages, 'model-a');
    expect(jobs.status('model-a')).toMatchObject({ secondsPerPassage: null, etaSeconds: null });
    const first = jobs.claim('model-a')!;
    jobs.complete(first.id, () => undefined, 40);
    const second = jobs.claim('model-a')!;
    jobs.progress(second.id, 0.5, 'training: step 3 of 6');
    // 1.5 jobs left at 40 s each.
    expect(jobs.status('model-a')).toMatchObject({ secondsPerPassage: 40, etaSeconds: 60, current: { passageId: second.passageId, position: 0, step: 'training: step 3 of 6' } });
    jobs.complete(second.id, () => undefined, 20);
    expect(jobs.status('model-a')).toMatchObject({ secondsPerPassage: 30, etaSeconds: 30 });
  });

  it('tells a document whose passages wait for the encoder from the one it is encoding', () => {
    const documents = new DocumentStore(db, () => 'model-a');
    jobs.enqueue(passages, 'model-a');
    expect(documents.list().map((d) => d.status)).toEqual(['queued', 'queued', 'queued']);
    const job = jobs.claim('model-a')!;
    const statuses = new Map(documents.list().map((d) => [d.id, d.status]));
    expect(statuses.get(documents.passagesByIds([job.passageId])[0]!.documentId)).toBe('encoding');
    expect([...statuses.values()].filter((s) => s === 'queued')).toHaveLength(2);
  });

  it('drops the jobs no question asked for, when encoding turns to on demand', () => {
    jobs.enqueue(passages, 'model-a');
    jobs.prioritize([passages[1]!], 'model-a');
    expect(jobs.cancelUnrequested('model-a')).toBe(2);
    expect(jobs.status('model-a')).toMatchObject({ queued: 1 });
    expect(jobs.claim('model-a')?.passageId).toBe(passages[1]);
  });

  it('estimates what encoding costs: the measured rate, else a rough guess from the model size', () => {
    expect(estimateEncoding(26_657, 6.5, 800_000_000)).toEqual({ passages: 26_657, secondsPerPassage: 6.5, seconds: 173_271, measured: true });
    const guess = estimateEncoding(100, null, 800_000_000);
    expect(guess).toMatchObject({ passages: 100, measured: false, secondsPerPassage: 65 });
    expect(estimateEncoding(100, null, 40_000_000).secondsPerPassage).toBe(8);
  });

  it('drops the jobs of a deleted document', () => {
    jobs.enqueue(passages, 'model-a');
    new DocumentStore(db, () => 'model-a').delete(1);
    expect(jobs.status('model-a').queued).toBe(2);
  });

  it('hands jobs to remote workers and takes them back, leaving them to no local encoder meanwhile', () => {
    jobs.enqueue(passages, 'model-a');
    const local = jobs.claim('model-a')!;
    const remote = jobs.claimForRemote('model-a');
    expect(remote.map((j) => j.passageId)).toEqual([passages[1], passages[2]]);
    expect(jobs.claim('model-a')).toBeNull();
    expect(jobs.runningLocally()).toBe(1);
    // A publisher that died is taken over by the next one, without counting another attempt.
    expect(jobs.claimForRemote('model-a')).toEqual(remote);
    jobs.release(remote[0]!.id);
    expect(jobs.claim('model-a')?.passageId).toBe(passages[1]);
    expect(jobs.isStillRunning(local.id)).toBe(true);
  });
});

describe('adapters made elsewhere', () => {
  it('stores the first adapter of a passage: a result that arrives twice, or late, changes nothing', () => {
    const adapters = new AdapterStore(db, dir, () => 'model-a', jobs);
    jobs.enqueue(passages, 'model-a');
    const [job] = jobs.claimForRemote('model-a', [passages[0]!]);
    const first = Buffer.from('GGUF first adapter');
    const input = { passageId: passages[0]!, baseModel: 'model-a', bytes: first, sha256: createHash('sha256').update(first).digest('hex'), rank: 2, alpha: 32, trainLoss: 1, config: {} };
    expect(adapters.storeExternal(input, () => jobs.complete(job!.id, () => undefined))).toBe('stored');
    expect(adapters.storeExternal(input)).toBe('duplicate');
    const other = Buffer.from('GGUF another adapter');
    expect(adapters.storeExternal({ ...input, bytes: other, sha256: createHash('sha256').update(other).digest('hex') })).toBe('duplicate');
    const rows = db.prepare('SELECT file, sha256 FROM adapters WHERE passage_id = ?').all(passages[0]) as { file: string; sha256: string }[];
    expect(rows).toHaveLength(1);
    expect(readFileSync(join(dir, rows[0]!.file)).equals(first)).toBe(true);
    expect(readdirSync(join(dir, 'adapters', 'model-a'))).toEqual([rows[0]!.file.split('/').pop()]);
    expect(db.prepare('SELECT state FROM jobs WHERE id = ?').get(job!.id)).toEqual({ state: 'done' });
    db.prepare('DELETE FROM passages WHERE id = ?').run(passages[1]);
    expect(adapters.storeExternal({ ...input, passageId: passages[1]! })).toBe('gone');
  });
});
