// Distributed encoding end to end, as a team runs it: a private redis-server with append-only
// persistence, two `paramkb worker` processes and `paramkb encode --redis` on a small corpus of
// the tiny model, 1 thread per process. Faults on the way: one worker is killed (SIGKILL) in
// the middle of a passage, the publisher is killed and Redis is killed and restarted, then the
// publisher runs again. Every passage must end with exactly one adapter, byte for byte the
// adapter a local encode with the same seed makes; a passage that cannot be trained fails with
// its error in `paramkb jobs`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQueueName } from '../../electron/core/distributed/encodeJobs.js';
import { Engine } from '../../electron/core/engine.js';
import type { Augmentation } from '../../electron/core/encoding/augmentation.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import { modelFingerprint } from '../../electron/core/llm/llmRuntime.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { startRedisServer, type RedisServer } from '../support/redisServer.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

const bin = join(repoRoot, 'bin', 'paramkb.js');
const PEOPLE = [
  ['Orla Venkatesh', 'Marrowgate', 'marine biology'], ['Bram Oduya', 'Quillon', 'architecture'], ['Sefa Lindqvist', 'Harrowfield', 'astronomy'],
  ['Ilse Moravec', 'Dunmere', 'chemistry'], ['Tomas Achebe', 'Pellworth', 'law'], ['Wren Castellanos', 'Ostrava Vale', 'music'],
  ['Kofi Haldane', 'Brindlemoor', 'geology'],
] as const;
/** Its rewrite makes a training sequence longer than the model's context: the trainer refuses it. */
const TOO_LONG = 'Unlucky Person';

let dir: string;
let dataDir: string;
let modelPath: string;
let redis: RedisServer;
const children = new Set<ChildProcess>();

function augmentationOf(name: string, place: string, subject: string): Augmentation {
  return {
    rewrite: name === TOO_LONG ? Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ') : `${place} is the birthplace of ${name}, who studied ${subject}.`,
    qa: [
      { question: `Where was ${name} born?`, answer: place },
      { question: `What did ${name} study?`, answer: subject },
      { question: `Who was born in ${place}?`, answer: name },
    ],
    warnings: [],
  };
}

interface Proc { child: ChildProcess; lines: { at: number; text: string }[]; exited: Promise<number | null> }

function paramkb(args: string[]): Proc {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, PARAMKB_GPU: '0', PARAMKB_MODEL: '', PARAMKB_DATA: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: Proc['lines'] = [];
  const collect = (chunk: Buffer) => { for (const text of chunk.toString().split('\n')) if (text.trim()) lines.push({ at: Date.now(), text }); };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { children.delete(child); resolve(code); }));
  return { child, lines, exited };
}

async function until<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readDb<T>(fn: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(join(dataDir, 'paramkb.sqlite'), { readonly: true });
  try { return fn(db); } finally { db.close(); }
}

function adapterShas(kb: string): Map<number, string> {
  const db = new BetterSqlite3(join(kb, 'paramkb.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT passage_id, file FROM adapters').all() as { passage_id: number; file: string }[];
    return new Map(rows.map((r) => [r.passage_id, createHash('sha256').update(readFileSync(join(kb, r.file))).digest('hex')]));
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'electron', 'node', 'cli.js'))) throw new Error('dist/ is missing: run `npm install` or `npm run build` first.');
  redis = await startRedisServer({ appendOnly: true });
  dir = mkdtempSync(join(tmpdir(), 'paramkb-distributed-'));
  dataDir = join(dir, 'kb');
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
  const engine = await Engine.open({ dataDir, useGpu: false });
  try {
    const records = [...PEOPLE, [TOO_LONG, 'Nowhere', 'nothing'] as const].map(([name, place, subject], i) => ({ id: `p${i}`, title: name, text: `${name} was born in ${place}. ${name} studied ${subject}.` }));
    engine.importer.importRecords(records);
    for (const d of engine.documents.list()) {
      const [, place, subject] = [...PEOPLE, [TOO_LONG, 'Nowhere', 'nothing'] as const].find(([name]) => name === d.title)!;
      for (const id of engine.documents.passageIdsOf(d.id)) engine.db.prepare('UPDATE passages SET augmentation = ? WHERE id = ?').run(JSON.stringify(augmentationOf(d.title, place, subject)), id);
    }
    // 15 optimizer steps per passage, a second or two: time to kill a worker in the middle of one.
    await engine.updateSettings({ epochs: 3, learningRate: 1e-2 });
  } finally {
    await engine.close();
  }
  // The reference: the same knowledge base encoded locally, 1 thread.
  const referenceDir = join(dir, 'reference');
  cpSync(dataDir, referenceDir, { recursive: true });
  const session = await openEncodingSession({ dataDir: referenceDir, modelPath, threads: 1, useGpu: false });
  try {
    session.jobs.enqueue(readDbIds(session.db), session.runtime.fingerprint);
    await session.encoder.runQueue();
  } finally {
    await session.close();
  }
}, 300_000);

function readDbIds(db: BetterSqlite3.Database): number[] {
  return (db.prepare('SELECT id FROM passages ORDER BY id').all() as { id: number }[]).map((r) => r.id);
}

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('distributed encoding on BullMQ', () => {
  it('survives a killed worker, a killed publisher and a Redis restart: one adapter per passage, identical to a local encode', async () => {
    const reference = adapterShas(join(dir, 'reference'));
    expect(reference.size).toBe(PEOPLE.length); // the too-long passage fails locally too

    const worker = () => paramkb(['--model', modelPath, 'worker', '--redis', redis.url, '--threads', '1', '--device', 'cpu', '--lock-seconds', '4']);
    const workerA = worker();
    const workerB = worker();
    await until('both workers to listen', () => [workerA, workerB].every((w) => w.lines.some((l) => l.text.includes(' queue paramkb-encode-'))));
    // Each says where it trains: the CPU, as asked.
    await until('both workers to say where they train', () => [workerA, workerB].every((w) => w.lines.some((l) => / encoding device: \S.* \(CPU\)$/.test(l.text))), 5_000);
    const encode = () => paramkb(['--data', dataDir, '--model', modelPath, 'encode', '--redis', redis.url]);

    const first = encode();
    // Worker A is killed in the middle of training a passage.
    const killedLine = await until('worker A to train a passage', () => workerA.lines.find((l) => /: training (25|50)%/.test(l.text)));
    workerA.child.kill('SIGKILL');
    await workerA.exited;
    const killedPassage = Number(/passage (\d+)/.exec(killedLine.text)![1]);

    // Then the publisher is killed, and Redis killed and restarted, while work is still out.
    await until('three adapters to be stored', () => readDb((db) => (db.prepare('SELECT COUNT(*) AS n FROM adapters').get() as { n: number }).n >= 3));
    expect(first.child.exitCode).toBeNull();
    first.child.kill('SIGKILL');
    await first.exited;
    const storedBefore = readDb((db) => (db.prepare('SELECT passage_id FROM adapters').all() as { passage_id: number }[]).map((r) => r.passage_id));
    await redis.kill();
    await redis.restart();
    const restartedAt = Date.now();

    const second = encode();
    expect(await second.exited).toBe(0);
    const summary = second.lines.map((l) => l.text).join('\n');
    expect(summary).toMatch(/Encoded \d+ passages on workers \(queue paramkb-encode-[0-9a-f]{32}\); 1 failed/);

    // Exactly one adapter per passage, the same bytes as the local encode.
    const shas = adapterShas(dataDir);
    expect(new Map([...shas].sort())).toEqual(new Map([...reference].sort()));
    const files = readdirSync(join(dataDir, 'adapters'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.gguf'));
    expect(files).toHaveLength(PEOPLE.length); // no temporary or orphan files
    // (Each run tries a failed passage again, as a local encode does, so it may have several failed jobs.)
    const jobStates = readDb((db) => db.prepare('SELECT state, COUNT(DISTINCT passage_id) AS n FROM jobs GROUP BY state ORDER BY state').all());
    expect(jobStates).toEqual([{ state: 'done', n: PEOPLE.length }, { state: 'failed', n: 1 }]);

    // The killed worker's passage went to worker B; passages stored before the restart were not encoded again.
    const started = (w: Proc, passage: number) => w.lines.filter((l) => l.text.includes(`passage ${passage} (`) && l.text.includes('started'));
    expect(workerB.lines.some((l) => l.text.includes(`passage ${killedPassage} (`) && l.text.includes('done in'))).toBe(true);
    expect(shas.has(killedPassage)).toBe(true);
    for (const passage of storedBefore) expect(started(workerB, passage).filter((l) => l.at > restartedAt)).toEqual([]);

    // The failure is in `paramkb jobs`, with its error; Redis keeps it for inspection and holds no uncollected result.
    const jobs = await promisify(execFile)(process.execPath, [bin, '--data', dataDir, '--model', modelPath, 'jobs', '--redis', redis.url], { env: { ...process.env, PARAMKB_GPU: '0' } });
    expect(jobs.stdout).toMatch(/: failed — .*more than the limit of 512/);
    expect(jobs.stdout).toMatch(/0 completed not yet collected, 1 failed/);
    const queue = new Queue(encodeQueueName(modelFingerprint(modelPath)), { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      expect(await queue.getJobCounts('completed', 'failed', 'waiting', 'active')).toEqual({ completed: 0, failed: 1, waiting: 0, active: 0 });
    } finally {
      await queue.close();
    }

    workerB.child.kill('SIGTERM');
    expect(await workerB.exited).toBe(0);
  }, 240_000);
});
