// Degrade, never break: where the native trainer cannot be loaded (hidden here with
// PARAMKB_TRAINER_ADDON naming a file that does not exist, as on a platform where the addon did
// not build), the knowledge base still imports, searches and answers from passages in context;
// the engine and the CLI say that encoding is unavailable and why; no encoding job is queued, no
// encoder process is started, and adapters made elsewhere are kept (not refused) but not used.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import type { EncodingQueueStatus } from '../../electron/shared/types.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { BIOGRAPHIES } from '../support/documentFixtures.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

const run = promisify(execFile);
const platform = `${process.platform}-${process.arch}`;
let dir: string;
let modelPath: string;
let hiddenAddon: string;
const previousAddon = process.env.PARAMKB_TRAINER_ADDON;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-no-trainer-'));
  hiddenAddon = join(dir, 'missing', 'paramkb_trainer.node');
  // Set before anything loads the addon (it is loaded lazily, on the first Engine.open).
  process.env.PARAMKB_TRAINER_ADDON = hiddenAddon;
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
});
afterAll(() => {
  if (previousAddon === undefined) delete process.env.PARAMKB_TRAINER_ADDON;
  else process.env.PARAMKB_TRAINER_ADDON = previousAddon;
  rmSync(dir, { recursive: true, force: true });
});

describe('without a native trainer', () => {
  it('the engine says why encoding is unavailable, queues nothing, starts no encoder and answers from passages', async () => {
    const queueEvents: EncodingQueueStatus[] = [];
    let encodersStarted = 0;
    const engine = await Engine.open({
      dataDir: join(dir, 'kb'), modelPath, useGpu: false,
      events: (event, payload) => { if (event === 'encodingQueueChanged') queueEvents.push(payload as EncodingQueueStatus); },
      createEncoder: () => { encodersStarted++; return { notify: () => undefined, answering: () => undefined, close: async () => undefined }; },
    });
    try {
      expect(encodersStarted).toBe(0);
      const queue = await engine.getEncodingQueue();
      expect(queue.availability.available).toBe(false);
      if (queue.availability.available) return;
      expect(queue.availability.reason).toContain(`PARAMKB_TRAINER_ADDON names ${hiddenAddon}, which does not exist`);
      expect(queue.availability.reason).toMatch(new RegExp(`^The native trainer is not built for ${platform}: `));

      const report = await engine.importPaths([writeDocs(join(dir, 'docs'))]);
      expect(report.added).toBe(BIOGRAPHIES.length);
      expect(queueEvents.at(-1)).toMatchObject({ availability: { available: false }, queued: 0, total: 0 });
      // Reloading the model would queue every passage where encoding works.
      await engine.openModel(modelPath);
      expect(engine.db.prepare('SELECT COUNT(*) FROM jobs').pluck().get()).toBe(0);

      // An adapter made on another machine stays in the knowledge base but is not applied here
      // (reading and merging adapter files also needs the addon).
      const orla = engine.bm25.search('Orla Venkatesh born', 1)[0]!;
      engine.db.prepare(`INSERT INTO adapters (passage_id, base_model, file, sha256, size_bytes, rank, alpha, train_loss, config, created_at)
        VALUES (?, ?, 'adapters/elsewhere.gguf', 'x', 1, 2, 32, NULL, '{}', '2026-01-01T00:00:00Z')`).run(orla.passageId, engine.baseModel);
      const answer = await engine.answerOnce({ question: 'Where was Orla Venkatesh born?', mode: 'auto', k: 2, maxTokens: 4 });
      // Only Orla's passage matches the question (evidence-only retrieval); its adapter is not applied.
      expect(answer.sources.map((s) => [s.passageId, s.usedAs])).toEqual([[orla.passageId, 'context']]);
      expect(answer.sources[0]!.passageId).toBe(orla.passageId);
      expect(engine.db.prepare('SELECT COUNT(*) FROM adapters').pluck().get()).toBe(1);
      expect(engine.db.prepare('SELECT COUNT(*) FROM jobs').pluck().get()).toBe(0);

      await expect(engine.reencodeDocument(orla.documentId)).rejects.toMatchObject({ code: 'encoding-unavailable', expected: true });
      expect(engine.db.prepare('SELECT COUNT(*) FROM jobs').pluck().get()).toBe(0);

      // The Encoding device list still answers: the CPU, and why nothing else is there.
      expect(queue.device).toBeNull();
      const { devices, failures } = await engine.getEncodingDevices();
      expect(devices).toEqual([{ name: 'CPU', description: expect.any(String), type: 'cpu', memoryFree: expect.any(Number), memoryTotal: expect.any(Number) }]);
      expect(failures).toEqual([queue.availability.reason]);
    } finally {
      await engine.close();
    }
  });

  it('paramkb status and encode say so; encode queues nothing and fails with one line', async () => {
    const dataDir = join(dir, 'cli-kb');
    const paramkb = async (args: string[]) => {
      try {
        const { stdout, stderr } = await run(process.execPath, [join(repoRoot, 'bin', 'paramkb.js'), '--data', dataDir, ...args], {
          env: { ...process.env, PARAMKB_GPU: '0', PARAMKB_MODEL: '', PARAMKB_TRAINER_ADDON: hiddenAddon }, timeout: 120_000,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    expect((await paramkb(['--model', modelPath, 'import', writeDocs(join(dir, 'cli-docs'))])).code).toBe(0);

    const status = await paramkb(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Encoding: unavailable on this computer (answers use passages in context). The native trainer is not built for ${platform}: PARAMKB_TRAINER_ADDON names ${hiddenAddon}, which does not exist.\n`);
    const json = JSON.parse((await paramkb(['status', '--json'])).stdout) as { queue: EncodingQueueStatus };
    expect(json.queue).toMatchObject({ availability: { available: false }, queued: 0, total: 0 });

    const encode = await paramkb(['encode', '--all']);
    expect(encode.code).toBe(1);
    expect(encode.stderr.trim().split('\n')).toHaveLength(1);
    expect(encode.stderr).toBe(`paramkb: Parametric encoding is unavailable on this computer. The native trainer is not built for ${platform}: PARAMKB_TRAINER_ADDON names ${hiddenAddon}, which does not exist. Answers use the passages in context.\n`);
    expect((await paramkb(['jobs'])).stdout).toMatch(/^0 done, 0 running, 0 queued, 0 failed/);
    // `ask` runs engine.answerOnce, tested above without the trainer (a CLI answer costs 256 tokens).
  });
});

/** A folder with the test biographies. */
function writeDocs(folder: string): string {
  mkdirSync(folder, { recursive: true });
  for (const b of BIOGRAPHIES) writeFileSync(join(folder, b.file), b.text);
  return folder;
}
