// Documents and their passages: the only code that writes the documents, passages and
// passages_fts tables, so the FTS index can never drift from the passages it indexes.
import type { DocumentDetail, DocumentStatus, DocumentSummary, PassageView } from '../../shared/types.js';
import { NotFoundError } from '../../shared/errors.js';
import { nowIso, type Db } from './database.js';
import type { PassageText } from '../ingest/passages.js';

export interface DocumentInput {
  sourceKey: string;
  path: string | null;
  title: string;
  format: string;
  sizeBytes: number;
  contentHash: string;
  passages: PassageText[];
}

export interface StoredPassage {
  id: number;
  documentId: number;
  documentTitle: string;
  position: number;
  text: string;
}

export type SaveOutcome = 'added' | 'updated' | 'unchanged';

/** A document with everything a knowledge pack carries of it. */
export interface DocumentForPack {
  id: number;
  title: string;
  format: string;
  sizeBytes: number;
  contentHash: string;
  passages: { id: number; position: number; text: string; wordCount: number; augmentation: string | null }[];
}

interface DocumentRow {
  id: number; source_key: string; path: string | null; title: string; format: string; size_bytes: number;
  imported_at: string; passage_count: number; encoded_count: number; open_jobs: number; running_jobs: number; failed_jobs: number; last_error: string | null;
}

export class DocumentStore {
  constructor(private readonly db: Db, private readonly baseModel: () => string | null) {}

  /** The stored content hash of a source, to skip unchanged files before parsing them. */
  contentHashOf(sourceKey: string): string | null {
    const row = this.db.prepare('SELECT content_hash FROM documents WHERE source_key = ?').get(sourceKey) as { content_hash: string } | undefined;
    return row?.content_hash ?? null;
  }

  /** A document with exactly this content, if any (to recognise an upload of a file already imported). */
  idWithContent(contentHash: string): number | null {
    const row = this.db.prepare('SELECT id FROM documents WHERE content_hash = ? ORDER BY id LIMIT 1').get(contentHash) as { id: number } | undefined;
    return row?.id ?? null;
  }

  /**
   * Adds a document or replaces a changed one, in one transaction: its old passages go (with
   * their adapters and jobs, by cascade) and the new ones are indexed.
   */
  save(input: DocumentInput): { id: number; outcome: SaveOutcome } {
    return this.db.transaction(() => {
      const existing = this.db.prepare('SELECT id, content_hash FROM documents WHERE source_key = ?').get(input.sourceKey) as { id: number; content_hash: string } | undefined;
      if (existing && existing.content_hash === input.contentHash) return { id: existing.id, outcome: 'unchanged' as const };
      const now = nowIso();
      let id: number;
      if (existing) {
        id = existing.id;
        this.deletePassagesOf(id);
        this.db.prepare('UPDATE documents SET path = ?, title = ?, format = ?, size_bytes = ?, content_hash = ?, updated_at = ? WHERE id = ?')
          .run(input.path, input.title, input.format, input.sizeBytes, input.contentHash, now, id);
      } else {
        id = Number(this.db.prepare('INSERT INTO documents (source_key, path, title, format, size_bytes, content_hash, imported_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(input.sourceKey, input.path, input.title, input.format, input.sizeBytes, input.contentHash, now, now).lastInsertRowid);
      }
      const insertPassage = this.db.prepare('INSERT INTO passages (document_id, position, text, word_count) VALUES (?, ?, ?, ?)');
      const insertFts = this.db.prepare('INSERT INTO passages_fts (rowid, title, text) VALUES (?, ?, ?)');
      for (const p of input.passages) {
        const passageId = insertPassage.run(id, p.position, p.text, p.wordCount).lastInsertRowid;
        insertFts.run(passageId, input.title, p.text);
      }
      return { id, outcome: existing ? 'updated' as const : 'added' as const };
    })();
  }

  private deletePassagesOf(documentId: number): void {
    this.db.prepare('DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE document_id = ?)').run(documentId);
    this.db.prepare('DELETE FROM passages WHERE document_id = ?').run(documentId);
  }

  /** Deletes a document, its passages, index rows, jobs and adapter rows; returns the adapter files to remove. */
  delete(documentId: number): string[] {
    return this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM documents WHERE id = ?').get(documentId);
      if (!exists) throw new NotFoundError(`Document ${documentId}`);
      const files = (this.db.prepare('SELECT a.file FROM adapters a JOIN passages p ON p.id = a.passage_id WHERE p.document_id = ?').all(documentId) as { file: string }[]).map((r) => r.file);
      this.deletePassagesOf(documentId);
      this.db.prepare('DELETE FROM documents WHERE id = ?').run(documentId);
      return files;
    })();
  }

  list(): DocumentSummary[] {
    return (this.summaryQuery('').all({ model: this.baseModel() ?? '' }) as DocumentRow[]).map(toSummary);
  }

  get(documentId: number): DocumentDetail {
    const row = this.summaryQuery('WHERE d.id = @id').get({ model: this.baseModel() ?? '', id: documentId }) as DocumentRow | undefined;
    if (!row) throw new NotFoundError(`Document ${documentId}`);
    const passages = (this.db.prepare(`
      SELECT p.id, p.document_id, p.position, p.text, EXISTS (SELECT 1 FROM adapters a WHERE a.passage_id = p.id AND a.base_model = ?) AS has_adapter
      FROM passages p WHERE p.document_id = ? ORDER BY p.position`).all(this.baseModel() ?? '', documentId) as { id: number; document_id: number; position: number; text: string; has_adapter: number }[])
      .map((p): PassageView => ({ id: p.id, documentId: p.document_id, position: p.position, text: p.text, hasAdapter: p.has_adapter === 1 }));
    return { ...toSummary(row), passages };
  }

  private summaryQuery(where: string) {
    return this.db.prepare(`
      SELECT d.id, d.source_key, d.path, d.title, d.format, d.size_bytes, d.imported_at,
        (SELECT COUNT(*) FROM passages p WHERE p.document_id = d.id) AS passage_count,
        (SELECT COUNT(*) FROM passages p JOIN adapters a ON a.passage_id = p.id AND a.base_model = @model WHERE p.document_id = d.id) AS encoded_count,
        (SELECT COUNT(*) FROM jobs j JOIN passages p ON p.id = j.passage_id WHERE p.document_id = d.id AND j.base_model = @model AND j.state IN ('queued', 'running')) AS open_jobs,
        (SELECT COUNT(*) FROM jobs j JOIN passages p ON p.id = j.passage_id WHERE p.document_id = d.id AND j.base_model = @model AND j.state = 'running') AS running_jobs,
        (SELECT COUNT(*) FROM jobs j JOIN passages p ON p.id = j.passage_id WHERE p.document_id = d.id AND j.base_model = @model AND j.state = 'failed') AS failed_jobs,
        (SELECT j.error FROM jobs j JOIN passages p ON p.id = j.passage_id WHERE p.document_id = d.id AND j.state = 'failed' ORDER BY j.updated_at DESC LIMIT 1) AS last_error
      FROM documents d ${where} ORDER BY d.imported_at DESC, d.id DESC`);
  }

  passagesByIds(ids: number[]): StoredPassage[] {
    if (ids.length === 0) return [];
    const rows = this.db.prepare(`
      SELECT p.id, p.document_id, d.title AS document_title, p.position, p.text
      FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id IN (${ids.map(() => '?').join(',')})`).all(...ids) as { id: number; document_id: number; document_title: string; position: number; text: string }[];
    const byId = new Map(rows.map((r) => [r.id, { id: r.id, documentId: r.document_id, documentTitle: r.document_title, position: r.position, text: r.text }]));
    return ids.map((id) => byId.get(id)).filter((p): p is StoredPassage => p !== undefined);
  }

  passageIdsOf(documentId: number): number[] {
    return (this.db.prepare('SELECT id FROM passages WHERE document_id = ? ORDER BY position').all(documentId) as { id: number }[]).map((r) => r.id);
  }

  /** Documents after `afterId` in id order (of `only` these, if given), `limit` at a time, with their passages. */
  documentsForPack(afterId: number, limit: number, only: number[] | null): DocumentForPack[] {
    const docs = this.db.prepare(`SELECT id, title, format, size_bytes, content_hash FROM documents
      WHERE id > ? AND (? IS NULL OR id IN (SELECT value FROM json_each(?))) ORDER BY id LIMIT ?`)
      .all(afterId, only ? 1 : null, JSON.stringify(only ?? []), limit) as { id: number; title: string; format: string; size_bytes: number; content_hash: string }[];
    const passagesOf = this.db.prepare('SELECT id, position, text, word_count, augmentation FROM passages WHERE document_id = ? ORDER BY position');
    return docs.map((d) => ({
      id: d.id, title: d.title, format: d.format, sizeBytes: d.size_bytes, contentHash: d.content_hash,
      passages: (passagesOf.all(d.id) as { id: number; position: number; text: string; word_count: number; augmentation: string | null }[])
        .map((p) => ({ id: p.id, position: p.position, text: p.text, wordCount: p.word_count, augmentation: p.augmentation })),
    }));
  }

  /** Passages of the documents (all when null), for a pack's progress. */
  passageCount(only: number[] | null): number {
    return this.db.prepare('SELECT COUNT(*) FROM passages WHERE ? IS NULL OR document_id IN (SELECT value FROM json_each(?))').pluck().get(only ? 1 : null, JSON.stringify(only ?? [])) as number;
  }

  /** Every document's content hash, to recognize documents already here (e.g. in a pack). */
  contentHashes(): Map<string, number> {
    const rows = this.db.prepare('SELECT content_hash, id FROM documents ORDER BY id').all() as { content_hash: string; id: number }[];
    const out = new Map<string, number>();
    for (const r of rows) if (!out.has(r.content_hash)) out.set(r.content_hash, r.id);
    return out;
  }

  /** The passages of a document with their stored augmentation (JSON or null). */
  passagesOfDocument(documentId: number): { id: number; position: number; text: string; augmentation: string | null }[] {
    return this.db.prepare('SELECT id, position, text, augmentation FROM passages WHERE document_id = ? ORDER BY position').all(documentId) as
      { id: number; position: number; text: string; augmentation: string | null }[];
  }

  /** A passage's text, or null when it no longer exists. */
  passageText(passageId: number): string | null {
    return (this.db.prepare('SELECT text FROM passages WHERE id = ?').pluck().get(passageId) as string | undefined) ?? null;
  }

  /** Every passage's id and text, in import order. */
  allPassages(): { id: number; text: string }[] {
    return this.db.prepare('SELECT id, text FROM passages ORDER BY id').all() as { id: number; text: string }[];
  }

  /** A passage's stored augmentation (JSON), or null. */
  augmentationOf(passageId: number): string | null {
    return (this.db.prepare('SELECT augmentation FROM passages WHERE id = ?').pluck().get(passageId) as string | null | undefined) ?? null;
  }

  setAugmentation(passageId: number, augmentationJson: string): void {
    this.db.prepare('UPDATE passages SET augmentation = ? WHERE id = ?').run(augmentationJson, passageId);
  }

  allPassageIds(): number[] {
    return this.db.prepare('SELECT id FROM passages ORDER BY id').pluck().all() as number[];
  }

  /** Text and stored augmentation (JSON, or null) of passages to encode, in the order asked. */
  passagesToEncode(ids: number[]): { id: number; text: string; augmentation: string | null }[] {
    if (ids.length === 0) return [];
    const rows = this.db.prepare('SELECT id, text, augmentation FROM passages WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids)) as { id: number; text: string; augmentation: string | null }[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id)).filter((r): r is { id: number; text: string; augmentation: string | null } => r !== undefined);
  }

  /** Keeps an augmentation made elsewhere (a worker, a pack) for a passage that has none, so it is never generated again. */
  storeAugmentationIfMissing(passageId: number, augmentationJson: string): boolean {
    return this.db.prepare('UPDATE passages SET augmentation = ? WHERE id = ? AND augmentation IS NULL').run(augmentationJson, passageId).changes > 0;
  }

  counts(): { documents: number; passages: number } {
    return this.db.prepare('SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM passages) AS passages').get() as { documents: number; passages: number };
  }
}

function toSummary(row: DocumentRow): DocumentSummary {
  let status: DocumentStatus = 'indexed';
  if (row.passage_count > 0 && row.encoded_count === row.passage_count) status = 'encoded';
  else if (row.running_jobs > 0) status = 'encoding';
  else if (row.open_jobs > 0) status = 'queued';
  else if (row.failed_jobs > 0) status = 'failed';
  return {
    id: row.id,
    title: row.title,
    path: row.path,
    format: row.format,
    sizeBytes: row.size_bytes,
    passageCount: row.passage_count,
    encodedCount: row.encoded_count,
    status,
    error: status === 'failed' ? row.last_error : null,
    importedAt: row.imported_at,
  };
}
