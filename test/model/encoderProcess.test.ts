// The encoder process's life: it ends when the process that started it goes away, and only one
// process at a time encodes a knowledge base (a second one is told who holds it).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { Engine } from '../../electron/core/engine.js';
import { acquireEncoderLock, EncoderBusyError } from '../../electron/core/encoding/encoderLock.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

const WORKER = join(repoRoot, 'dist', 'electron', 'node', 'encoderWorker.js');
let dir: string;
let dataDir: string;
let modelPath: string;

const AUGMENTATION = JSON.stringify({
  rewrite: 'Marrowgate is where Orla Venkatesh was born.',
  qa: [{ question: 'Where was Orla Venkatesh born?', answer: 'Marrowgate' }, { question: 'Who was born in Marrowgate?', answer: 'Orla Venkatesh' }],
  warnings: [],
});

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return condition();
}

/**
 * A parent process (as `paramkb serve` is) that forks the encoder worker and tells us its pid
 * and its first training progress. At normal priority unless `background`, so that the test
 * files running beside this one do not starve it.
 */
function startParent(background = false): { parent: ChildProcess; worker: Promise<{ pid: number }>; training: Promise<void>; messages: { type: string; message?: { type: string } }[] } {
  const script = `
    const { fork } = require('node:child_process');
    const worker = fork(${JSON.stringify(WORKER)}, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    process.send({ type: 'worker', pid: worker.pid });
    worker.on('message', (m) => process.send({ type: 'from-worker', message: m }));
    worker.send({ type: 'start', args: { dataDir: ${JSON.stringify(dataDir)}, modelPath: ${JSON.stringify(modelPath)}, threads: 1, useGpu: false, background: ${background} } });
  `;
  const parent = fork('-e', [script], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, PARAMKB_GPU: '0' } });
  // fork('-e', ...) runs the script through node's -e flag.
  const messages: { type: string; message?: { type: string } }[] = [];
  let onWorker: (w: { pid: number }) => void = () => undefined;
  let onTraining: () => void = () => undefined;
  parent.on('message', (m: { type: string; pid?: number; message?: { type: string; step?: string } }) => {
    messages.push(m);
    if (m.type === 'worker') onWorker({ pid: m.pid! });
    if (m.type === 'from-worker' && m.message?.type === 'progress' && m.message.step === 'training') onTraining();
  });
  return {
    parent,
    worker: new Promise((resolve) => { onWorker = resolve; }),
    training: new Promise((resolve) => { onTraining = resolve; }),
    messages,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-encoder-process-'));
  dataDir = join(dir, 'kb');
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
  const engine = await Engine.open({ dataDir, modelPath, useGpu: false });
  try {
    const report = engine.importer.importRecords(Array.from({ length: 4 }, (_, i) => ({
      id: String(i), title: `Person ${i}`, text: `Person ${i} was born in Marrowgate and studied marine biology at the University of Tessaly.`,
    })));
    engine.afterImport(report);
    engine.db.prepare('UPDATE passages SET augmentation = ?').run(AUGMENTATION);
    // Long jobs, so that the encoder is busy when its parent dies.
    await engine.updateSettings({ epochs: 50 });
  } finally {
    await engine.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('encoder process', () => {
  it('ends when its parent is killed, putting its job back in the queue', async () => {
    const { parent, worker, training } = startParent();
    const { pid } = await worker;
    try {
      await training;
      parent.kill('SIGKILL');
      expect(await until(() => !alive(pid), 20_000)).toBe(true);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    // The job it was training went back to the queue, not counted as a failed attempt.
    const db = new BetterSqlite3(join(dataDir, 'paramkb.sqlite'), { readonly: true });
    try {
      expect(db.prepare("SELECT state, COUNT(*) AS n, MAX(attempts) AS attempts FROM jobs GROUP BY state").all()).toEqual([{ state: 'queued', n: 4, attempts: 0 }]);
    } finally {
      db.close();
    }
  });

  it.runIf(process.platform === 'linux')('trains at the lowest CPU priority, in every thread, so that answers come first', async () => {
    const { parent, worker, training } = startParent(true);
    const { pid } = await worker;
    try {
      await training;
      // The nice value is field 19 of /proc/<pid>/task/<tid>/stat, the 17th after the name.
      const nice = readdirSync(`/proc/${pid}/task`).map((tid) => {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      });
      expect(nice.length).toBeGreaterThan(3);
      expect(new Set(nice)).toEqual(new Set([19]));
    } finally {
      parent.kill('SIGKILL');
      if (await until(() => !alive(pid), 20_000) === false) process.kill(pid, 'SIGKILL');
    }
  });

  it('encodes with the knowledge base\'s encoder thread setting', async () => {
    const engine = await Engine.open({ dataDir, useGpu: false });
    await engine.updateSettings({ threads: 2, encoderThreads: 1 });
    await engine.close();
    const session = await openEncodingSession({ dataDir, modelPath, useGpu: false });
    try {
      expect(session.runtime.info().threads).toBe(1);
    } finally {
      await session.close();
    }
  });

  it('lets one process at a time encode a knowledge base, and a killed one leaves no lock behind', async () => {
    const lock = acquireEncoderLock(dataDir);
    expect(() => acquireEncoderLock(dataDir)).toThrow(EncoderBusyError);
    lock.release();
    lock.release();

    const first = startParent();
    const { pid } = await first.worker;
    try {
      await first.training;
      // A second encoder, in this process or in another worker, is refused with a clear reason.
      const refused = await openEncodingSession({ dataDir, modelPath, threads: 1, useGpu: false }).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(EncoderBusyError);
      expect((refused as Error).message).toContain(`pid ${pid}`);
      expect((refused as Error).message).toMatch(/Only one process encodes a knowledge base at a time/);
      const second = startParent();
      await until(() => second.messages.some((m) => m.message?.type === 'busy'), 30_000);
      expect(second.messages.map((m) => m.message?.type)).toContain('busy');
      second.parent.kill('SIGKILL');
      // Killed outright, the holder's lock goes with it.
      process.kill(pid, 'SIGKILL');
      expect(await until(() => !alive(pid), 10_000)).toBe(true);
      acquireEncoderLock(dataDir).release();
    } finally {
      first.parent.kill('SIGKILL');
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
