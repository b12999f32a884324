// The engine's side of the encoder process (startEncoderProcess), with a fake worker: what it
// starts the worker with, and how it handles a knowledge base that another process encodes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../electron/core/engine.js';
import type { FromEncoder, ToEncoder } from '../../electron/node/encoderMessages.js';
import type { EncodingDevice } from '../../electron/shared/types.js';
import { startEncoderProcess, type EncoderWorkerHandle } from '../../electron/node/encoderProcess.js';

interface FakeWorker extends EncoderWorkerHandle {
  sent: ToEncoder[];
  reply(message: FromEncoder): void;
  exit(failure: string | null): void;
}

function fakeWorker(): FakeWorker {
  let onMessage: (m: FromEncoder) => void = () => undefined;
  let onExit: (f: string | null) => void = () => undefined;
  const worker: FakeWorker = {
    sent: [],
    send: (m) => void worker.sent.push(m),
    onMessage: (h) => { onMessage = h; },
    onExit: (h) => { onExit = h; },
    kill: () => onExit('SIGKILL'),
    reply: (m) => onMessage(m),
    exit: (f) => onExit(f),
  };
  return worker;
}

function fakeEngine(settings: { threads: number; encoderThreads: number; encoderDevice: string } = { threads: 0, encoderThreads: 0, encoderDevice: 'auto' }) {
  const blocked: (string | null)[] = [];
  const devices: (EncodingDevice | null)[] = [];
  const engine = {
    dataDir: '/kb',
    options: { profilePath: undefined, useGpu: false },
    settings: { get: () => settings },
    loadedModelPath: () => '/models/m.gguf',
    emit: () => undefined,
    emitQueue: () => undefined,
    setEncoderBlocked: (reason: string | null) => void blocked.push(reason),
    setEncoderDevice: (device: EncodingDevice | null) => void devices.push(device),
  };
  return { engine: engine as unknown as Engine, blocked, devices };
}

afterEach(() => vi.useRealTimers());

describe('encoder host', () => {
  it('starts the encoder with the thread settings, and a new one when they change', () => {
    const settings = { threads: 3, encoderThreads: 0, encoderDevice: 'auto' };
    const { engine } = fakeEngine(settings);
    const workers: FakeWorker[] = [];
    const control = startEncoderProcess(engine, () => undefined, () => { const w = fakeWorker(); workers.push(w); return w; });
    expect(workers[0]!.sent[0]).toMatchObject({ type: 'start', args: { modelPath: '/models/m.gguf', threads: 3 } });
    control.notify();
    expect(workers).toHaveLength(1);
    expect(workers[0]!.sent.at(-1)).toEqual({ type: 'notify' });
    control.answering(true);
    expect(workers[0]!.sent.at(-1)).toEqual({ type: 'answering', active: true });
    settings.encoderThreads = 1;
    control.notify();
    expect(workers[0]!.sent.at(-1)).toEqual({ type: 'stop' });
    expect(workers[1]!.sent[0]).toMatchObject({ type: 'start', args: { threads: 1 } });
  });

  it('says why nothing is encoded while another process holds the knowledge base, and tries again', async () => {
    vi.useFakeTimers();
    const { engine, blocked } = fakeEngine();
    const workers: FakeWorker[] = [];
    const crashes: string[] = [];
    const control = startEncoderProcess(engine, (m) => crashes.push(m), () => { const w = fakeWorker(); workers.push(w); return w; });
    workers[0]!.reply({ type: 'busy', message: 'Another ParamKB process (pid 7) is already encoding.' });
    workers[0]!.exit(null);
    expect(blocked.at(-1)).toMatch(/pid 7.*continues here once it stops/);
    expect(crashes).toEqual([]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(workers).toHaveLength(2);
    workers[1]!.reply({ type: 'ready' });
    expect(blocked.at(-1)).toBeNull();
    const closed = control.close();
    workers[1]!.exit(null);
    await closed;
  });

  it('restarts a crashed encoder after 1, 5, then 30 s, and a clean start resets the delays', async () => {
    vi.useFakeTimers();
    const { engine } = fakeEngine();
    const workers: FakeWorker[] = [];
    const crashes: string[] = [];
    const control = startEncoderProcess(engine, (m) => crashes.push(m), () => { const w = fakeWorker(); workers.push(w); return w; });
    const crashAndWait = async (delayMs: number) => {
      const before = workers.length;
      workers.at(-1)!.exit('SIGSEGV');
      expect(crashes.at(-1)).toBe(`The encoder process stopped (SIGSEGV); restarting in ${delayMs / 1000} s. Encoding resumes where it stopped.`);
      await vi.advanceTimersByTimeAsync(delayMs - 1);
      expect(workers).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(workers).toHaveLength(before + 1);
    };
    await crashAndWait(1_000);
    await crashAndWait(5_000);
    await crashAndWait(30_000);
    await crashAndWait(30_000);
    // A worker that got as far as loading its model starts the back-off again.
    workers.at(-1)!.reply({ type: 'ready' });
    await crashAndWait(1_000);
    // A clean exit (told to stop, or its parent went away) is not a crash.
    workers.at(-1)!.exit(null);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(workers).toHaveLength(6);
    await control.close();
  });

  it('starts the encoder on the device setting, a new one when it changes, and passes on the device each reports', async () => {
    const settings = { threads: 0, encoderThreads: 0, encoderDevice: 'auto' };
    const { engine, devices } = fakeEngine(settings);
    const workers: FakeWorker[] = [];
    const control = startEncoderProcess(engine, () => undefined, () => { const w = fakeWorker(); workers.push(w); return w; });
    expect(workers[0]!.sent[0]).toMatchObject({ type: 'start', args: { device: 'auto' } });
    const gpu: EncodingDevice = { name: 'CUDA0', description: 'NVIDIA GeForce RTX 4070', gpu: true, note: null };
    const moved: EncodingDevice = { name: 'CPU', description: 'AMD Ryzen 7 7840U', gpu: false, note: 'Encoding moved to the CPU after CUDA0 failed: out of memory' };
    workers[0]!.reply({ type: 'ready' });
    workers[0]!.reply({ type: 'device', device: gpu });
    workers[0]!.reply({ type: 'device', device: moved });
    expect(devices).toEqual([gpu, moved]);
    control.notify();
    expect(workers).toHaveLength(1);
    settings.encoderDevice = 'cpu';
    control.notify();
    expect(workers[0]!.sent.at(-1)).toEqual({ type: 'stop' });
    expect(workers[1]!.sent[0]).toMatchObject({ type: 'start', args: { device: 'cpu' } });
    // The old encoder's last words and its exit say nothing about the new one.
    expect(devices.at(-1)).toBeNull();
    workers[1]!.reply({ type: 'device', device: moved });
    workers[0]!.reply({ type: 'device', device: gpu });
    workers[0]!.exit(null);
    expect(devices.at(-1)).toEqual(moved);
    // Once no encoder runs, none trains anywhere.
    const closed = control.close();
    workers[1]!.exit(null);
    await closed;
    expect(devices.at(-1)).toBeNull();
  });
});
