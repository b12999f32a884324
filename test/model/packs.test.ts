// Knowledge packs on a tiny model: a round trip gives the same answers and the same adapter
// bytes; import merges by content hash; a damaged, cut-short, newer, inconsistent or foreign
// pack is refused and leaves the knowledge base exactly as it was.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../electron/core/engine.js';
import type { Augmentation } from '../../electron/core/encoding/augmentation.js';
import { openEncodingSession } from '../../electron/core/encoding/encodingSession.js';
import { exportPack } from '../../electron/core/packs/packExport.js';
import { importPack } from '../../electron/core/packs/packImport.js';
import type { PassageVectors } from '../../electron/core/packs/packFormat.js';
import { readPackEntries, writePackEntries } from '../support/packFiles.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';

const RECORDS = [
  { id: 'orla', title: 'Orla Venkatesh', text: 'Orla Venkatesh was born in Marrowgate. She studied marine biology at the University of Tessaly.' },
  { id: 'bram', title: 'Bram Oduya', text: 'Bram Oduya was born in Quillon. He works for Granite Arch Builders in Velmora.' },
  { id: 'sefa', title: 'Sefa Lindqvist', text: 'Sefa Lindqvist was born in Harrowfield. She studied astronomy at Corrin College.' },
];

function augmentationFor(title: string, place: string): Augmentation {
  return {
    rewrite: `${place} is where ${title} was born.`,
    qa: [
      { question: `Where was ${title} born?`, answer: place },
      { question: `Who was born in ${place}?`, answer: title },
      { question: `What is ${title}'s birthplace?`, answer: place },
    ],
    warnings: [],
  };
}
const PLACES: Record<string, string> = { 'Orla Venkatesh': 'Marrowgate', 'Bram Oduya': 'Quillon', 'Sefa Lindqvist': 'Harrowfield' };

let dir: string;
let modelPath: string;
let otherModelPath: string;
let source: Engine;
let packPath: string;
const opened: Engine[] = [];

async function openKb(name: string, model: string | null = modelPath): Promise<Engine> {
  const engine = await Engine.open({ dataDir: join(dir, name), modelPath: model ?? undefined, useGpu: false });
  opened.push(engine);
  return engine;
}

function setAugmentations(engine: Engine): void {
  for (const d of engine.documents.list()) {
    for (const id of engine.documents.passageIdsOf(d.id)) {
      engine.db.prepare('UPDATE passages SET augmentation = ? WHERE id = ?').run(JSON.stringify(augmentationFor(d.title, PLACES[d.title]!)), id);
    }
  }
}

/** Everything an import could change: rows, adapter checksums and every file under the data folder. */
function state(engine: Engine) {
  const files = readdirSync(engine.dataDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => !f.startsWith('paramkb.sqlite') && statSync(join(engine.dataDir, f)).isFile()).sort();
  return {
    documents: engine.db.prepare('SELECT id, source_key, title, content_hash FROM documents ORDER BY id').all(),
    passages: engine.db.prepare('SELECT id, document_id, position, text, augmentation FROM passages ORDER BY id').all(),
    fts: engine.db.prepare('SELECT COUNT(*) AS n FROM passages_fts').get(),
    adapters: engine.db.prepare('SELECT passage_id, base_model, file, sha256 FROM adapters ORDER BY passage_id').all(),
    jobs: engine.db.prepare('SELECT passage_id, state FROM jobs ORDER BY id').all(),
    files,
  };
}

/** Adapter file sha256 by document title. */
function adapterShas(engine: Engine): Record<string, string> {
  const rows = engine.db.prepare('SELECT d.title, a.file FROM adapters a JOIN passages p ON p.id = a.passage_id JOIN documents d ON d.id = p.document_id').all() as { title: string; file: string }[];
  return Object.fromEntries(rows.map((r) => [r.title, createHash('sha256').update(readFileSync(join(engine.dataDir, r.file))).digest('hex')]));
}

async function answers(engine: Engine) {
  const out = [];
  for (const [mode, title] of [['parametric', 'Orla Venkatesh'], ['combine', 'Bram Oduya']] as const) {
    const a = await engine.answerOnce({ question: `Where was ${title} born?`, mode, k: 2, maxTokens: 6 });
    out.push({ mode, text: a.text, candidates: a.candidates, sources: a.sources.map((s) => [s.documentTitle, s.usedAs, s.text]) });
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-packs-'));
  modelPath = await tinyModelPath(TINY_SPECS.llamaSpm);
  otherModelPath = await tinyModelPath(TINY_SPECS.llamaBpeGqa);
  source = await openKb('source');
  source.importer.importRecords(RECORDS);
  setAugmentations(source);
  const session = await openEncodingSession({ dataDir: source.dataDir, modelPath, threads: 1, useGpu: false, config: { epochs: 2, lr: 1e-2 } });
  try {
    session.jobs.enqueue(source.documents.allPassageIds(), session.runtime.fingerprint);
    expect(await session.encoder.runQueue()).toBe(3);
  } finally {
    await session.close();
  }
  packPath = join(dir, 'team.paramkb');
  const report = await source.exportPack(packPath, null);
  expect(report).toMatchObject({ documents: 3, passages: 3, adapters: 3 });
  expect(report.model).toContain('tiny-llama-llama-spm');
});

afterAll(async () => {
  for (const engine of opened) await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('knowledge packs', () => {
  it('a round trip into an empty knowledge base gives the same answers and the same adapter bytes', async () => {
    const before = await answers(source);
    const target = await openKb('roundtrip');
    const report = await target.importPack(packPath);
    expect(report).toMatchObject({ documentsAdded: 3, documentsPresent: 0, passagesAdded: 3, adaptersAdded: 3, augmentationsAdded: 3, warnings: [] });
    expect(adapterShas(target)).toEqual(adapterShas(source));
    expect(Object.keys(adapterShas(target))).toHaveLength(3);
    const augmentations = (e: Engine) => e.db.prepare('SELECT p.text, p.augmentation FROM passages p ORDER BY p.text').all();
    expect(augmentations(target)).toEqual(augmentations(source));
    // Every passage came with its adapter: nothing is left to encode.
    expect((await target.getEncodingQueue()).queued).toBe(0);
    expect(await answers(target)).toEqual(before);
    expect(before.some((a) => a.sources.some(([, usedAs]) => usedAs === 'adapter'))).toBe(true);
  });

  it('merges by content hash: documents already there are not added twice, but get the adapters they lack', async () => {
    const again = await source.importPack(packPath);
    expect(again).toMatchObject({ documentsAdded: 0, documentsPresent: 3, adaptersAdded: 0 });
    expect(source.documents.counts()).toEqual({ documents: 3, passages: 3 });

    const partial = await openKb('partial');
    partial.afterImport(partial.importer.importRecords([RECORDS[1]!])); // same content: same hash; queued for encoding
    expect((await partial.getEncodingQueue()).queued).toBe(1);
    const report = await partial.importPack(packPath);
    expect(report).toMatchObject({ documentsAdded: 2, documentsPresent: 1, passagesAdded: 2, adaptersAdded: 3 });
    expect(partial.documents.counts()).toEqual({ documents: 3, passages: 3 });
    expect(adapterShas(partial)).toEqual(adapterShas(source));
    expect((await partial.getEncodingQueue()).queued).toBe(0); // Bram's queued job was dropped
  });

  it('refuses a damaged pack, a cut-short one and one of a newer format, changing nothing', async () => {
    const target = await openKb('damaged');
    target.importer.importRecords([RECORDS[0]!]);
    const before = state(target);
    const entries = await readPackEntries(packPath);

    const flipped = entries.map((e) => (e.name === 'adapters/000002.gguf' ? { ...e, bytes: Buffer.from(e.bytes.map((b, i) => (i === 200 ? b ^ 0xff : b))) } : e));
    await writePackEntries(join(dir, 'flipped.paramkb'), flipped);
    await expect(target.importPack(join(dir, 'flipped.paramkb'))).rejects.toMatchObject({ code: 'pack-damaged', message: expect.stringContaining('adapters/000002.gguf does not match its checksum') });
    expect(state(target)).toEqual(before);

    const bytes = readFileSync(packPath);
    writeFileSync(join(dir, 'cut.paramkb'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expect(target.importPack(join(dir, 'cut.paramkb'))).rejects.toMatchObject({ code: 'pack-incomplete' });
    expect(state(target)).toEqual(before);

    const newer = entries.map((e) => (e.name === 'pack.json' ? { ...e, bytes: Buffer.from(JSON.stringify({ ...JSON.parse(e.bytes.toString()), version: 2, somethingNew: true })) } : e));
    await writePackEntries(join(dir, 'newer.paramkb'), newer, { reseal: true });
    await expect(target.importPack(join(dir, 'newer.paramkb'))).rejects.toMatchObject({
      code: 'pack-too-new', message: expect.stringContaining('newer ParamKB (pack format 2; this version reads up to 1)'),
    });
    expect(state(target)).toEqual(before);
  });

  it('rolls back a pack that verifies but fails while merging, removing the adapter files it had moved', async () => {
    const target = await openKb('rollback');
    const before = state(target);
    const entries = await readPackEntries(packPath);
    // The third document points at an adapter the pack does not hold; the first two merge first.
    const chunk = entries.find((e) => e.name === 'documents/000001.jsonl.gz')!;
    const lines = gunzipSync(chunk.bytes).toString('utf8').split('\n');
    const third = JSON.parse(lines[2]!) as { passages: { adapter: { entry: string } }[] };
    third.passages[0]!.adapter.entry = 'adapters/000099.gguf';
    lines[2] = JSON.stringify(third);
    const broken = entries.map((e) => (e === chunk ? { ...e, bytes: gzipSync(Buffer.from(lines.join('\n'))) } : e));
    await writePackEntries(join(dir, 'inconsistent.paramkb'), broken, { reseal: true });
    await expect(target.importPack(join(dir, 'inconsistent.paramkb'))).rejects.toMatchObject({ code: 'pack-invalid', message: expect.stringContaining('adapters/000099.gguf is referenced but not in the pack') });
    expect(state(target)).toEqual(before);
    expect(readdirSync(target.dataDir).filter((f) => f.startsWith('pack-import-'))).toEqual([]);
  });

  it('refuses adapters for another model, naming the model they need', async () => {
    const target = await openKb('other-model', otherModelPath);
    const before = state(target);
    const error = await target.importPack(packPath).then(() => new Error('imported'), (e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'pack-wrong-model' });
    expect(error.message).toMatch(/adapters are for the model tiny-llama-llama-spm \(tiny-llama-llama-spm-f32-[0-9a-f]+\.gguf, [\d.]+ [KM]B, fingerprint [0-9a-f]{12}…\), not the open model/);
    expect(state(target)).toEqual(before);
    const noModel = await openKb('no-model', null);
    await expect(noModel.importPack(packPath)).rejects.toMatchObject({ code: 'pack-needs-model' });
  });

  it('imports a pack shipped with the app once, as soon as the model its adapters need is open', async () => {
    const shipped = join(dir, 'resources-packs');
    mkdirSync(shipped);
    cpSync(packPath, join(shipped, 'handbook.paramkb'));
    const first = await Engine.open({ dataDir: join(dir, 'bundled'), useGpu: false, bundledPacksDir: shipped });
    opened.push(first);
    expect(await first.importBundledPacks()).toEqual([]); // no model yet: the pack waits
    expect(first.documents.counts().documents).toBe(0);
    await first.openModel(modelPath);
    await first.importBundledPacks();
    expect(first.documents.counts()).toEqual({ documents: 3, passages: 3 });
    expect(Object.keys(adapterShas(first))).toHaveLength(3);
    // Once imported, never again: a document the user deleted stays deleted after a restart.
    await first.deleteDocument(first.documents.list()[0]!.id);
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    const restarted = await Engine.open({ dataDir: join(dir, 'bundled'), useGpu: false, bundledPacksDir: shipped });
    opened.push(restarted);
    expect(await restarted.importBundledPacks()).toEqual([]);
    expect(restarted.documents.counts().documents).toBe(2);
  });

  it('exports only the chosen documents, and carries vectors when both sides have them', async () => {
    const orla = source.documents.list().find((d) => d.title === 'Orla Venkatesh')!;
    const some = await source.exportPack(join(dir, 'orla.paramkb'), [orla.id]);
    expect(some).toMatchObject({ documents: 1, passages: 1, adapters: 1 });
    await expect(source.exportPack(join(dir, 'orla.tar'), null)).rejects.toMatchObject({ code: 'pack-extension' });
    expect(existsSync(join(dir, 'orla.tar'))).toBe(false);
    await expect(source.exportPack(join(dir, 'no-such-folder', 'x.paramkb'), null)).rejects.toMatchObject({ code: 'pack-write', message: expect.stringContaining('the folder does not exist') });

    // A vector store of the knowledge base (sqlite-vec on a branch that has one), here in memory.
    const memory = (values: Map<number, Float32Array>): PassageVectors => ({
      model: 'test-embedding', dimensions: 3, get: (id) => values.get(id) ?? null, put: (id, v) => void values.set(id, v),
    });
    const sent = new Map(source.documents.allPassageIds().map((id) => [id, Float32Array.from([id, 0.5, -id])]));
    const withVectors = join(dir, 'vectors.paramkb');
    await exportPack({ dataDir: source.dataDir, outPath: withVectors, model: null, vectors: memory(sent) });
    const target = await openKb('vectors', null);
    const received = new Map<number, Float32Array>();
    const report = await importPack({
      db: target.db, dataDir: target.dataDir, documents: target.documents, adapters: target.adapters, jobs: target.jobs,
      inPath: withVectors, model: null, vectors: memory(received),
    });
    expect(report).toMatchObject({ documentsAdded: 3, adaptersAdded: 0, vectorsAdded: 3 });
    const textOf = (e: Engine, id: number) => e.documents.passagesByIds([id])[0]!.text;
    const byText = (e: Engine, m: Map<number, Float32Array>) => Object.fromEntries([...m].map(([id, v]) => [textOf(e, id), Array.from(v)]));
    expect(byText(target, received)).toEqual(byText(source, sent));
  });
});
