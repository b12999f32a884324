import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../electron/core/database/database.js';
import { DocumentStore } from '../../electron/core/database/documentStore.js';
import { extractText } from '../../electron/core/ingest/extractText.js';
import { Importer } from '../../electron/core/ingest/importer.js';
import { makeDocx, makePdf } from '../support/documentFixtures.js';

let dir: string;
let db: Db;
let documents: DocumentStore;
let importer: Importer;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-ingest-'));
  db = openDatabase(join(dir, 'kb.sqlite'));
  documents = new DocumentStore(db, () => null);
  importer = new Importer(db, documents);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('text extraction', () => {
  it('reads PDF text and refuses encrypted and damaged PDFs', async () => {
    const pdf = await extractText('a.pdf', makePdf(['Quillon is a harbour city.', 'It has a lighthouse.']));
    expect(pdf.text).toContain('Quillon is a harbour city.');
    expect(pdf.text).toContain('It has a lighthouse.');
    await expect(extractText('b.pdf', makePdf(['secret'], { encrypted: true }))).rejects.toMatchObject({ code: 'encrypted' });
    await expect(extractText('c.pdf', Buffer.from('%PDF-1.4\nthis is not really a pdf'))).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('reads DOCX paragraphs and refuses a damaged DOCX', async () => {
    const docx = await extractText('a.docx', await makeDocx(['First paragraph.', 'Second paragraph.']));
    expect(docx.text).toBe('First paragraph.\n\nSecond paragraph.');
    await expect(extractText('b.docx', Buffer.from('PK\u0003\u0004 broken zip'))).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('reads HTML without markup, scripts or styles, and takes its title', async () => {
    const html = await extractText('a.html', Buffer.from('<html><head><title>Harbours</title><style>p{}</style></head><body><script>alert(1)</script><h1>Ports</h1><p>Quillon has <b>two</b> piers.</p></body></html>'));
    expect(html.title).toBe('Harbours');
    expect(html.text).toContain('Quillon has two piers.');
    expect(html.text).not.toMatch(/alert|p\{\}|<b>/);
  });

  it('takes the first Markdown heading as title and decodes UTF-16 text', async () => {
    expect((await extractText('a.md', Buffer.from('intro\n# The Title\nbody'))).title).toBe('The Title');
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Zoë in Kraków', 'utf16le')]);
    expect((await extractText('b.txt', utf16)).text).toBe('Zoë in Kraków');
  });

  it('reads Latin-1 and Windows-1252 text', async () => {
    const french = 'Le maître d’hôtel a dit que la crème brûlée était prête – à 5 €. Les élèves de François étudient à Genève.';
    // Windows-1252 has ’ – € at 0x92 0x96 0x80, where Latin-1 has control codes.
    const cp1252 = Buffer.from([...french].map((c) => ({ '’': 0x92, '–': 0x96, '€': 0x80 } as Record<string, number>)[c] ?? c.charCodeAt(0)));
    expect((await extractText('menu.txt', cp1252)).text).toBe(french);
    expect((await extractText('name.md', Buffer.from('# José\n\nJosé Müller lives in Zürich.', 'latin1'))).title).toBe('José');
    expect((await extractText('short.txt', Buffer.from('Jos\xe9', 'latin1'))).text).toBe('José');
  });

  it('takes the first line of a text or Word document as its title when it reads as one', async () => {
    expect((await extractText('a.txt', Buffer.from('Harbour rules\n\nShips dock at the east pier. Fees are paid monthly.'))).title).toBe('Harbour rules');
    expect((await extractText('b.txt', Buffer.from('Ships dock at the east pier.\nFees are paid monthly.'))).title).toBeNull();
    expect((await extractText('c.txt', Buffer.from('Dear crew,\nthe pier is closed.'))).title).toBeNull();
    expect((await extractText('d.txt', Buffer.from('One line only'))).title).toBeNull();
    expect((await extractText('e.docx', await makeDocx(['Quarterly report', 'Sales rose by four percent.']))).title).toBe('Quarterly report');
    expect((await extractText('f.docx', await makeDocx(['Sales rose by four percent.', 'Costs fell.']))).title).toBeNull();
    const file = join(dir, 'harbour_rules_v2.txt');
    writeFileSync(file, 'Harbour Rules\nShips dock at the east pier.');
    await importer.importPaths([file]);
    expect(documents.list()[0]!.title).toBe('Harbour Rules');
  });

  it('refuses binary, empty and unsupported files with a reason', async () => {
    await expect(extractText('a.txt', Buffer.from([0x41, 0x00, 0x42]))).rejects.toMatchObject({ code: 'binary' });
    await expect(extractText('a.txt', Buffer.from('  \n\n '))).rejects.toMatchObject({ code: 'empty' });
    await expect(extractText('a.exe', Buffer.from('MZ'))).rejects.toMatchObject({ code: 'unsupported' });
  });
});

describe('importer', () => {
  it('imports a folder of every format, recording failures per file and going on', async () => {
    const docs = join(dir, 'docs');
    mkdirSync(join(docs, 'sub'), { recursive: true });
    mkdirSync(join(docs, '.hidden'));
    writeFileSync(join(docs, 'a.txt'), 'Orla Venkatesh was born in Marrowgate.');
    writeFileSync(join(docs, 'b.md'), '# Bram\nBram Oduya was born in Quillon.');
    writeFileSync(join(docs, 'sub', 'c.html'), '<title>Sefa</title><p>Sefa studied astronomy.</p>');
    writeFileSync(join(docs, 'sub', 'd.pdf'), makePdf(['Kestrel Shipping is based in Port Alden.']));
    writeFileSync(join(docs, 'sub', 'e.docx'), await makeDocx(['Granite Arch Builders is headquartered in Velmora.']));
    writeFileSync(join(docs, 'empty.txt'), '');
    writeFileSync(join(docs, 'locked.pdf'), makePdf(['x'], { encrypted: true }));
    writeFileSync(join(docs, 'big.txt'), 'word '.repeat(3000));
    writeFileSync(join(docs, 'image.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    writeFileSync(join(docs, '.hidden', 'x.txt'), 'hidden');
    symlinkSync(docs, join(docs, 'sub', 'loop'));

    const progress: number[] = [];
    const report = await importer.importPaths([docs, join(dir, 'missing.txt')], { maxFileBytes: 10_000, onProgress: (p) => progress.push(p.done) });
    expect(report.added).toBe(5);
    expect(report.failed.map((f) => [f.path.split('/').pop(), f.code]).sort()).toEqual([
      ['big.txt', 'too-large'], ['empty.txt', 'empty'], ['locked.pdf', 'encrypted'], ['missing.txt', 'unreadable'],
    ]);
    for (const f of report.failed) expect(f.reason.length).toBeGreaterThan(20);
    // Passed over, and said so: the unsupported file and the link back to the folder.
    expect(report.skipped.map((f) => [f.path.slice(docs.length + 1), f.code])).toEqual([['image.png', 'unsupported'], ['sub/loop', 'symlink-loop']]);
    expect(report.skipped[0]!.reason).toMatch(/^Skipped: \.png is not supported/);
    expect(report.skipped[1]!.reason).toMatch(/links back to .*a folder that contains it/);
    expect(progress.at(-1)).toBe(8);
    const titles = documents.list().map((d) => d.title).sort();
    expect(titles).toEqual(['Bram', 'Sefa', 'a', 'd', 'e']);
    expect(documents.list().every((d) => d.status === 'indexed' && d.passageCount === 1)).toBe(true);
    // Kept until dismissed; a file imported since is no longer listed.
    const kept = importer.listFailures();
    expect(kept.total).toBe(6);
    expect(kept.items.map((f) => f.path.split('/').pop()).sort()).toEqual(['big.txt', 'empty.txt', 'image.png', 'locked.pdf', 'loop', 'missing.txt']);
    writeFileSync(join(docs, 'empty.txt'), 'Not empty any more.');
    await importer.importPaths([join(docs, 'empty.txt')]);
    expect(importer.listFailures().items.map((f) => f.path.split('/').pop())).not.toContain('empty.txt');
    importer.dismissFailures();
    expect(importer.listFailures()).toEqual({ total: 0, items: [] });
  });

  it('skips an unchanged file and replaces the passages of a changed one', async () => {
    const file = join(dir, 'note.txt');
    writeFileSync(file, 'Version one of the note.');
    const first = await importer.importPaths([file]);
    expect(first.added).toBe(1);
    expect((await importer.importPaths([file])).unchanged).toBe(1);
    writeFileSync(file, 'Version two of the note, rewritten.');
    const third = await importer.importPaths([file]);
    expect(third.updated).toBe(1);
    expect(third.documentIds).toEqual(first.documentIds);
    const detail = documents.get(first.documentIds[0]!);
    expect(detail.passages.map((p) => p.text)).toEqual(['Version two of the note, rewritten.']);
    const fts = db.prepare("SELECT COUNT(*) AS n FROM passages_fts WHERE passages_fts MATCH 'version'").get() as { n: number };
    expect(fts.n).toBe(1);
  });

  it('keeps uploads of the same file name in different folders apart, and knows an upload of an imported file by its content', async () => {
    const bytes = (text: string) => new Uint8Array(Buffer.from(text));
    const first = await importer.importUploads([
      { name: 'docs/projA/notes.md', bytes: bytes('Project A meets on Mondays.') },
      { name: 'docs/projB/notes.md', bytes: bytes('Project B meets on Fridays.') },
    ]);
    expect(first).toMatchObject({ added: 2, updated: 0, unchanged: 0 });
    expect(documents.list().map((d) => d.passageCount)).toEqual([1, 1]);
    const again = await importer.importUploads([{ name: 'docs/projB/notes.md', bytes: bytes('Project B meets on Fridays, at noon.') }]);
    expect(again).toMatchObject({ added: 0, updated: 1 });
    expect(again.documentIds).toEqual([first.documentIds[1]]);

    const file = join(dir, 'minutes.txt');
    writeFileSync(file, 'The minutes of the meeting.');
    const byPath = await importer.importPaths([file]);
    const uploaded = await importer.importUploads([{ name: 'minutes.txt', bytes: bytes('The minutes of the meeting.') }]);
    expect(uploaded).toMatchObject({ added: 0, unchanged: 1, documentIds: byPath.documentIds });
    expect(documents.counts().documents).toBe(3);
  });

  it('refuses a file named explicitly when its format is unsupported', async () => {
    const file = join(dir, 'data.csv');
    writeFileSync(file, 'a,b');
    const report = await importer.importPaths([file]);
    expect(report.failed).toMatchObject([{ code: 'unsupported' }]);
  });

  it('deletes a document with its passages and index rows', async () => {
    const report = importer.importRecords([{ id: '1', title: 'T', text: 'Alpha beta.' }, { id: '2', title: 'U', text: 'Gamma delta.' }]);
    documents.delete(report.documentIds[0]!);
    expect(documents.counts()).toEqual({ documents: 1, passages: 1 });
    expect((db.prepare('SELECT COUNT(*) AS n FROM passages_fts').get() as { n: number }).n).toBe(1);
  });
});
