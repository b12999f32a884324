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
import { startEncoderProcess, type EncoderWorkerHandle } from '../../electron/node/encoderProcess.js';
import type { FromEncoder } from '../../electron/node/encoderMessages.js';
import type { EncodingDevice } from '../../electron/shared/types.js';
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
function startParent(background = false, device?: string): { parent: ChildProcess; worker: Promise<{ pid: number }>; training: Promise<void>; messages: { type: string; message?: { type: string; device?: EncodingDevice } }[] } {
  const script = `
    const { fork } = require('node:child_process');
    const worker = fork(${JSON.stringify(WORKER)}, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    process.send({ type: 'worker', pid: worker.pid });
    worker.on('message', (m) => process.send({ type: 'from-worker', message: m }));
    worker.send({ type: 'start', args: { dataDir: ${JSON.stringify(dataDir)}, modelPath: ${JSON.stringify(modelPath)}, threads: 1, useGpu: false, background: ${background}, device: ${JSON.stringify(device)} } });
  `;
  const parent = fork('-e', [script], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, PARAMKB_GPU: '0' } });
  // fork('-e', ...) runs the script through node's -e flag.
  const messages: { type: string; message?: { type: string; device?: EncodingDevice } }[] = [];
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

/** forkEncoderWorker's, with the compiled worker (the sources here have no encoderWorker.js beside them). */
function forkCompiledWorker(): EncoderWorkerHandle {
  const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, PARAMKB_GPU: '0' } });
  return {
    send: (message) => { if (child.connected) child.send(message); },
    onMessage: (handler) => child.on('message', (raw) => handler(raw as FromEncoder)),
    onExit: (handler) => child.once('exit', (code, signal) => handler(code === 0 && signal === null ? null : signal ?? `exit code ${code}`)),
    kill: () => child.kill('SIGKILL'),
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

  it.runIf(process.platform === 'linux')('trains at the lowest CPU priority and in the idle scheduling class, in every thread, so that answers come first', async () => {
    const { parent, worker, training } = startParent(true);
    const { pid } = await worker;
    try {
      await training;
      // Fields 19 (nice) and 41 (policy) of /proc/<pid>/task/<tid>/stat, the 17th and 39th after the name.
      const fields = readdirSync(`/proc/${pid}/task`).map((tid) => {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').slice(0, -1);
        const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { nice: Number(after[16]), policy: Number(after[38]) };
      });
      expect(fields.length).toBeGreaterThan(3);
      expect(new Set(fields.map((f) => f.nice))).toEqual(new Set([19]));
      const SCHED_IDLE = 5;
      expect(new Set(fields.map((f) => f.policy))).toEqual(new Set([SCHED_IDLE]));
    } finally {
      parent.kill('SIGKILL');
      if (await until(() => !alive(pid), 20_000) === false) process.kill(pid, 'SIGKILL');
    }
    // In the idle class the encoder gets only the CPU time nothing else wants: while vitest's
    // other worker keeps both cores busy (a 1B-shaped model's test), its first step waits.
    // 3 s alone; 105 s and over 120 s in two CI runs.
  }, 360_000);

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

  it('trains where the automatic choice says, with a note, when the device setting names one this computer lacks; a device asked for by name fails', async () => {
    const engine = await Engine.open({ dataDir, useGpu: false });
    await engine.updateSettings({ encoderDevice: 'Nope7' });
    await engine.close();
    try {
      const session = await openEncodingSession({ dataDir, modelPath, threads: 1, useGpu: false });
      try {
        const device = session.device();
        expect(device.note).toMatch(/^The Encoding device setting names Nope7, which this computer does not have now \(found: CPU \(.+\)\), so encoding uses the automatic choice\./);
        expect(device.name).not.toBe('Nope7');
        expect(session.reportDevice()).toBeNull(); // reported once loaded; unchanged since
      } finally {
        await session.close();
      }
      await expect(openEncodingSession({ dataDir, modelPath, threads: 1, useGpu: false, device: 'Nope7' })).rejects.toThrow(/There is no compute device named 'Nope7'/);
      // The app's encoder process is given the setting's value: it falls back too, and says so.
      const { parent, worker, messages } = startParent(false, 'Nope7');
      const { pid } = await worker;
      try {
        const reported = () => messages.find((m) => m.message?.type === 'device')?.message?.device;
        const fatal = () => messages.some((m) => m.message?.type === 'fatal');
        expect(await until(() => reported() !== undefined || fatal(), 60_000)).toBe(true);
        expect(reported()?.note).toMatch(/^The Encoding device setting names Nope7, which this computer does not have now/);
      } finally {
        parent.kill('SIGKILL');
        if (await until(() => !alive(pid), 20_000) === false) process.kill(pid, 'SIGKILL');
      }
    } finally {
      const restore = await Engine.open({ dataDir, useGpu: false });
      await restore.updateSettings({ encoderDevice: 'auto' });
      await restore.close();
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

  it('reports the device it trains on: the engine shows it in the queue status, and the knowledge base keeps it', async () => {
    const settingsEngine = await Engine.open({ dataDir, useGpu: false });
    await settingsEngine.updateSettings({ encoderDevice: 'cpu', encoderThreads: 1 });
    settingsEngine.settings.setValue('encodingDevice', 'null'); // nothing saved by the tests before
    await settingsEngine.close();
    const reported: (EncodingDevice | null)[] = [];
    const engine = await Engine.open({
      dataDir, modelPath, useGpu: false,
      events: (event, payload) => { if (event === 'encodingQueueChanged') reported.push((payload as { device: EncodingDevice | null }).device); },
      createEncoder: (opened) => startEncoderProcess(opened, () => undefined, forkCompiledWorker, { background: false }),
    });
    let closed = false;
    try {
      expect((await engine.getEncodingQueue()).device).toBeNull(); // until the encoder has loaded
      expect(await until(() => reported.some((d) => d !== null), 60_000)).toBe(true);
      const device = (await engine.getEncodingQueue()).device;
      expect(device).toEqual({ name: 'CPU', description: expect.any(String), gpu: false, note: null });
      expect(device!.description).not.toBe('');
      // Saved where `paramkb status`, which runs no encoder, reads it.
      const db = new BetterSqlite3(join(dataDir, 'paramkb.sqlite'), { readonly: true });
      try {
        const saved = JSON.parse((db.prepare("SELECT value FROM settings WHERE key = 'app.encodingDevice'").get() as { value: string }).value) as Record<string, unknown>;
        expect(saved).toMatchObject({ ...device, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      } finally {
        db.close();
      }
      await engine.close();
      closed = true;
      expect(reported.at(-1)).toBeNull(); // no encoder runs any more
    } finally {
      if (!closed) await engine.close();
    }
  });

  it('lists the devices it could train on, the CPU first', async () => {
    const engine = await Engine.open({ dataDir, useGpu: false });
    try {
      const { devices } = await engine.getEncodingDevices();
      expect(devices[0]).toMatchObject({ name: 'CPU', type: 'cpu' });
      expect(devices[0]!.memoryTotal).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });
});
