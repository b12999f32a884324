// The `paramkb` command end to end, as a user runs it: import a folder, ask, status, eval.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterLayout } from '../../electron/core/trainer/adapterFiles.js';
import { ANSWER_MODES } from '../../electron/shared/types.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { BIOGRAPHIES } from '../support/documentFixtures.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

const run = promisify(execFile);
const bin = join(repoRoot, 'bin', 'paramkb.js');
let dir: string;
let dataDir: string;
let modelPath: string;

async function paramkb(args: string[], timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, '--data', dataDir, ...args], { env: { ...process.env, PARAMKB_GPU: '0', PARAMKB_MODEL: '' }, timeout });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'electron', 'node', 'cli.js'))) throw new Error('dist/ is missing: run `npm install` or `npm run build` first.');
  dir = mkdtempSync(join(tmpdir(), 'paramkb-cli-'));
  dataDir = join(dir, 'kb');
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
  mkdirSync(join(dir, 'docs'));
  for (const b of BIOGRAPHIES) writeFileSync(join(dir, 'docs', b.file), b.text);
  writeFileSync(join(dir, 'docs', 'broken.pdf'), '%PDF-1.4 nothing');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('paramkb CLI', () => {
  it('imports a folder and reports failures per file', async () => {
    const r = await paramkb(['import', join(dir, 'docs')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Imported 3 new and 0 changed documents (3 passages); 0 unchanged; 1 failed.');
    expect(r.stdout).toMatch(/failed: .*broken\.pdf: The PDF cannot be read/);
    const again = await paramkb(['import', join(dir, 'docs', BIOGRAPHIES[0].file)]);
    expect(again.stdout).toContain('1 unchanged');
  });

  it('status changes nothing: it loads a model to describe it, without queueing passages or remembering it', async () => {
    const r = await paramkb(['--model', modelPath, 'status', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ documents: 3, model: { loaded: true, path: modelPath } });
    const db = new BetterSqlite3(join(dataDir, 'paramkb.sqlite'), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM jobs').get()).toEqual({ n: 0 });
      expect(db.prepare("SELECT value FROM settings WHERE key = 'app.modelPath'").get()).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('says clearly when no model is loaded', async () => {
    const r = await paramkb(['ask', 'Where was Orla born?']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^paramkb: No model is loaded/);
  });

  it('answers in context mode with the retrieved sources', async () => {
    const r = await paramkb(['--model', modelPath, 'ask', 'Where was Orla Venkatesh born?', '--mode', 'context', '--k', '2', '--json']);
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout) as { text: string; sources: { documentTitle: string; usedAs: string; score: number }[] };
    // Only Orla's passage matched: the others share just "born" with the question, a word in
    // every passage (BM25 score 0), and are no evidence.
    expect(answer.sources).toHaveLength(1);
    expect(answer.sources[0]).toMatchObject({ documentTitle: 'orla venkatesh', usedAs: 'context' });
    expect(answer.sources[0]!.score).toBeGreaterThan(0.01);
    expect(typeof answer.text).toBe('string');
  });

  it('streams a closed-book answer as text, with no sources', async () => {
    const r = await paramkb(['--model', modelPath, 'ask', 'Where was Orla born?', '--mode', 'closed-book']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Sources:');
  });

  it('shows the status, remembering the last model', async () => {
    const r = await paramkb(['status', '--json']);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as { documents: number; passages: number; model: { loaded: boolean; path: string } };
    expect(status).toMatchObject({ documents: 3, passages: 3, model: { loaded: true, path: modelPath }, encodingDevice: null, encoderDevice: 'auto' });
    // Nothing was encoded here yet, so no device was used.
    expect((await paramkb(['status'])).stdout).toContain('\nEncoding device: none used yet (setting: auto)\n');
  });

  it('encodes passages into adapters in the foreground, then answers with them', async () => {
    // One document: the random-weight model writes no usable augmentation, so each passage
    // costs every retry at full token budget.
    const db = new BetterSqlite3(join(dataDir, 'paramkb.sqlite'), { readonly: true });
    const orla = (db.prepare("SELECT id FROM documents WHERE title = 'orla venkatesh'").get() as { id: number }).id;
    db.close();
    const r = await paramkb(['encode', '--doc', String(orla), '--epochs', '1', '--threads', '1', '--device', 'cpu'], 500_000);
    expect(r.code).toBe(0);
    // The device it trains on, first; here the CPU, as asked.
    expect(r.stderr).toMatch(/^Encoding on \S.* \(CPU\)$/m);
    expect(r.stderr.indexOf('Encoding on ')).toBeLessThan(r.stderr.indexOf('Encoding: 0/1'));
    // status runs no encoder: it shows the device the last one used, kept in the knowledge base.
    const status = await paramkb(['status']);
    expect(status.stdout).toMatch(/^Encoding device: \S.* \(CPU\), last used \d{4}-\d\d-\d\d \d\d:\d\d$/m);
    expect(status.stdout).not.toContain('none used yet');
    const statusJson = JSON.parse((await paramkb(['status', '--json'])).stdout) as { encodingDevice: unknown; queue: { device: unknown } };
    expect(statusJson.encodingDevice).toMatchObject({ name: 'CPU', gpu: false, note: null });
    expect(statusJson.queue.device).toBeNull();
    // Not a terminal: plain lines of progress on stderr, from the first stage to a rate.
    expect(r.stderr).toMatch(/^Encoding: 0\/1 passages done; passage \d+ augmenting; time left known after the first passage$/m);
    expect(r.stderr).toMatch(/^Encoding: 1\/1 passages done; passage \d+ done; \d+ (s|min) per passage$/m);
    expect(r.stdout).toMatch(/^Encoded 1 passages \(augmentation [\d.]+ s, training [\d.]+ s\); 0 failed, 0 still queued\./);
    const jobs = await paramkb(['jobs']);
    expect(jobs.stdout).toContain('1 done, 0 running, 2 queued, 0 failed'); // opening the model queued every passage
    const rows = jobs.stdout.split('\n').filter((l) => l.startsWith('#')).map((l) => l.replace(/^#\d+ passage \d+ /, ''));
    expect(rows.sort()).toEqual(['(Bram Oduya): queued', '(Sefa Lindqvist): queued', '(orla venkatesh): done']);
    // Another model's jobs: its header and its rows (none), and listing them queued nothing.
    const other = await paramkb(['--model', await tinyModelPath(TINY_SPECS.llamaBpeGqa), 'jobs']);
    expect(other.stdout).toBe('0 done, 0 running, 0 queued, 0 failed\n');
    expect((await paramkb(['jobs'])).stdout).toBe(jobs.stdout);
    const again = await paramkb(['encode', '--doc', String(orla)]);
    expect(again.stdout).toMatch(/^Encoded 0 passages/);
    const answer = await paramkb(['ask', 'Where was Orla Venkatesh born?', '--mode', 'parametric', '--k', '1', '--json']);
    expect(answer.code).toBe(0);
    expect((JSON.parse(answer.stdout) as { sources: { usedAs: string }[] }).sources).toMatchObject([{ usedAs: 'adapter' }]);

    // New adapters are compact Q3_K (the answer above expanded it for llama.cpp); converting
    // them to F16 keeps them usable and grows the file.
    const adapterFiles = readdirSync(join(dataDir, 'adapters'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.gguf'));
    expect(adapterFiles).toHaveLength(1);
    expect(await adapterLayout(join(dataDir, 'adapters', adapterFiles[0]!))).toBe('compact');
    const converted = await paramkb(['convert-adapters', 'f16']);
    expect(converted.code).toBe(0);
    const sizes = converted.stdout.match(/^Converted 1 adapters to f16: ([\d.]+) KB before, ([\d.]+) KB after\./m);
    expect(sizes).not.toBeNull();
    expect(Number(sizes![2])).toBeGreaterThan(Number(sizes![1]));
    const afterConversion = await paramkb(['ask', 'Where was Orla Venkatesh born?', '--mode', 'parametric', '--k', '1', '--json']);
    expect((JSON.parse(afterConversion.stdout) as { sources: { usedAs: string }[] }).sources).toMatchObject([{ usedAs: 'adapter' }]);
    // Without --mode, ask uses the knowledge base's default mode: combine.
    const combined = JSON.parse((await paramkb(['ask', 'Where was Orla Venkatesh born?', '--k', '1', '--json'])).stdout) as { sources: { usedAs: string }[]; candidates: { kept: string } };
    expect(combined.sources).toMatchObject([{ usedAs: 'both' }]);
    expect(['passages', 'adapters']).toContain(combined.candidates.kept);
    const badType = await paramkb(['convert-adapters', 'q4']);
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toMatch(/f32, f16, q8_0/);

    // An import says what encoding its passages costs (the rate measured above) and how to choose.
    writeFileSync(join(dir, 'lena.txt'), 'Lena Marsh was born in Quillon. She repairs clocks in Velmora.');
    const imported = await paramkb(['import', join(dir, 'lena.txt'), '--encoding', 'on-demand']);
    expect(imported.stdout).toMatch(/Encoding the 1 new passages into adapters takes about \d+ (s|min) on this computer \(\d+ (s|min) per passage, measured on this model\)\. Encoding policy: on-demand; choose with --encoding all\|on-demand\|paused/);
    expect((await paramkb(['jobs'])).stdout).toMatch(/^1 done, 0 running, 0 queued, 0 failed\n/);
    expect((await paramkb(['status'])).stdout).toContain('(policy: on-demand)');
  }, 600_000);

  it('evaluates a small question set with EM/F1 per type', async () => {
    const docs = join(dir, 'docs.jsonl');
    const questions = join(dir, 'questions.jsonl');
    writeFileSync(docs, BIOGRAPHIES.map((b, i) => JSON.stringify({ id: `d${i}`, title: b.title, text: b.text.replace(/<[^>]+>/g, ' ') })).join('\n'));
    writeFileSync(questions, [
      { id: 'q1', question: 'Where was Orla Venkatesh born?', answers: ['Marrowgate'], type: 'single' },
      { id: 'q2', question: 'Where was Bram Oduya born?', answers: ['Quillon'], type: 'single' },
      { id: 'q3', question: 'Who was born first, Orla Venkatesh or Bram Oduya?', answers: ['Orla Venkatesh'], type: 'comparison' },
    ].map((q) => JSON.stringify(q)).join('\n'));
    const out = join(dir, 'report.json');
    const r = await run(process.execPath, [bin, '--model', modelPath, 'eval', '--docs', docs, '--questions', questions, '--mode', 'context,closed-book', '--out', out], { env: { ...process.env, PARAMKB_GPU: '0', PARAMKB_DATA: '' } });
    expect(r.stderr).toContain('| context |');
    const reports = JSON.parse(readFileSync(out, 'utf8')) as { mode: string; overall: { n: number; f1: number }; byType: Record<string, { n: number }>; predictions: { retrieved: string[] }[] }[];
    expect(reports.map((x) => x.mode)).toEqual(['context', 'closed-book']);
    expect(reports[0]!.overall.n).toBe(3);
    expect(reports[0]!.byType).toMatchObject({ single: { n: 2 }, comparison: { n: 1 } });
    expect(reports[0]!.predictions[0]!.retrieved[0]).toBe('Orla Venkatesh');
    expect(reports[1]!.predictions[0]!.retrieved).toEqual([]);
  });

  it('fails with one line and a non-zero code on bad input', async () => {
    const badMode = await paramkb(['ask', 'q', '--mode', 'telepathy']);
    expect(badMode.code).not.toBe(0);
    expect(badMode.stderr).toContain(`use one of ${ANSWER_MODES.join(', ')}`);
    const missing = await paramkb(['eval', '--docs', join(dir, 'nope.jsonl'), '--questions', join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^paramkb: Cannot read the documents file/);
    // A device that is no name, and one this computer does not have (the trainer lists those it has).
    const badDevice = await paramkb(['encode', '--device', 'CUDA 0']);
    expect(badDevice.code).not.toBe(0);
    expect(badDevice.stderr).toContain("Use 'auto', 'cpu' or a device name");
    const noDevice = await paramkb(['--model', modelPath, 'encode', '--all', '--threads', '1', '--device', 'Nope7']);
    expect(noDevice.code).toBe(1);
    expect(noDevice.stderr).toMatch(/^paramkb: There is no compute device named 'Nope7'/m);
    const notModel = await paramkb(['--model', join(dir, 'docs', BIOGRAPHIES[0].file), 'ask', 'q']);
    expect(notModel.code).toBe(1);
    expect(notModel.stderr).toMatch(/is not a GGUF model file/);
  });
});
