// Adapter files under <data>/adapters/<base model>/<passage id>.gguf, with their sha256 and the
// base model's fingerprint in the database. An adapter is only used when its row matches the
// loaded base model and its file matches its checksum; otherwise it is refused, removed and
// its passage queued again, so a corrupt or foreign file never reaches the model.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { AdapterSource } from '../answer/answerer.js';
import { nowIso, type Db } from '../database/database.js';
import { adaptersDir } from '../paths.js';
import { convertAdapter } from '../trainer/adapterFiles.js';
import type { AdapterTensorType } from '../trainer/LoraTrainer.js';
import type { JobQueue } from './jobQueue.js';

export interface AdapterRecord {
  passageId: number;
  baseModel: string;
  /** Absolute path of the finished file. */
  path: string;
  rank: number;
  alpha: number;
  trainLoss: number | null;
  config: unknown;
  /** The file's sha256 and size when the caller already knows them (else the file is read). */
  sha256?: string;
  sizeBytes?: number;
}

/** An adapter trained elsewhere (a worker's result): its bytes and what its row records. */
export interface ExternalAdapter extends Omit<AdapterRecord, 'path' | 'sha256' | 'sizeBytes'> {
  bytes: Buffer;
  sha256: string;
}

export class AdapterStore implements AdapterSource {
  /** Checksums already verified, by path + size + mtime, so each file is hashed once. */
  private readonly verified = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly dataDir: string,
    private readonly baseModel: () => string | null,
    private readonly jobs: JobQueue,
    private readonly onRefused: (passageId: number, reason: string) => void = () => undefined,
  ) {}

  private modelDir(baseModel: string): string {
    const dir = join(adaptersDir(this.dataDir), baseModel);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Where the adapter of a passage goes; the folder is created. */
  pathFor(passageId: number, baseModel: string): string {
    return join(this.modelDir(baseModel), `${passageId}.gguf`);
  }

  /** Where the warm-up init of a base model and LoRA shape goes (kept by sweepOrphans). */
  warmupPath(baseModel: string, rank: number, alpha: number): string {
    return join(this.modelDir(baseModel), `warmup-r${rank}-a${alpha}.gguf`);
  }

  /** Deletes every adapter of a base model (rows and files), e.g. to encode again with new settings. */
  deleteAll(baseModel: string): number {
    const files = (this.db.prepare('SELECT file FROM adapters WHERE base_model = ?').all(baseModel) as { file: string }[]).map((r) => r.file);
    this.db.prepare('DELETE FROM adapters WHERE base_model = ?').run(baseModel);
    for (const file of files) rmSync(join(this.dataDir, file), { force: true });
    return files.length;
  }

  /** Writes the adapter's row; call inside the job's completion transaction. */
  /**
   * Forgets the adapters of a document's passages for `baseModel` and returns their files
   * (relative to the data folder), for the caller to delete once its transaction commits.
   */
  forgetDocument(baseModel: string, documentId: number): string[] {
    const inDocument = 'base_model = ? AND passage_id IN (SELECT id FROM passages WHERE document_id = ?)';
    const files = this.db.prepare(`SELECT file FROM adapters WHERE ${inDocument}`).pluck().all(baseModel, documentId) as string[];
    this.db.prepare(`DELETE FROM adapters WHERE ${inDocument}`).run(baseModel, documentId);
    return files;
  }

  record(adapter: AdapterRecord): void {
    let { sha256, sizeBytes } = adapter;
    if (sha256 === undefined || sizeBytes === undefined) {
      const bytes = readFileSync(adapter.path);
      sha256 = createHash('sha256').update(bytes).digest('hex');
      sizeBytes = bytes.length;
    }
    this.db.prepare(`
      INSERT INTO adapters (passage_id, base_model, file, sha256, size_bytes, rank, alpha, train_loss, config, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (passage_id, base_model) DO UPDATE SET file = excluded.file, sha256 = excluded.sha256, size_bytes = excluded.size_bytes,
        rank = excluded.rank, alpha = excluded.alpha, train_loss = excluded.train_loss, config = excluded.config, created_at = excluded.created_at`)
      .run(adapter.passageId, adapter.baseModel, relative(this.dataDir, adapter.path), sha256, sizeBytes, adapter.rank, adapter.alpha,
        adapter.trainLoss, JSON.stringify(adapter.config), nowIso());
    this.verified.set(this.verifyKey(adapter.path), sha256);
  }

  hasAdapter(passageId: number, baseModel: string): boolean {
    return this.db.prepare('SELECT 1 FROM adapters WHERE passage_id = ? AND base_model = ?').get(passageId, baseModel) !== undefined;
  }

  /**
   * Where an adapter made elsewhere goes: named by passage and content, so it never replaces a
   * file in use (a local encoder writes <passage>.gguf) and the same result twice is the same file.
   */
  private externalPath(passageId: number, baseModel: string, sha256: string): string {
    return join(this.modelDir(baseModel), `${passageId}-${sha256.slice(0, 16)}.gguf`);
  }

  /**
   * Stores an adapter trained elsewhere for a passage that has none for its base model: the file
   * is written under a temporary name and renamed, then its row is written in one transaction
   * with `inSameTransaction` (the job's completion). The first adapter of a passage wins: a
   * result that arrives twice, or after a local encoder was faster, changes nothing.
   */
  storeExternal(adapter: ExternalAdapter, inSameTransaction: () => void = () => undefined): 'stored' | 'duplicate' | 'gone' {
    if (this.hasAdapter(adapter.passageId, adapter.baseModel)) return 'duplicate';
    if (this.db.prepare('SELECT 1 FROM passages WHERE id = ?').get(adapter.passageId) === undefined) return 'gone';
    const path = this.externalPath(adapter.passageId, adapter.baseModel, adapter.sha256);
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, adapter.bytes);
    renameSync(temp, path);
    const outcome = this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM passages WHERE id = ?').get(adapter.passageId) === undefined) return 'gone' as const;
      if (this.hasAdapter(adapter.passageId, adapter.baseModel)) return 'duplicate' as const;
      this.record({ ...adapter, path, sizeBytes: adapter.bytes.length });
      inSameTransaction();
      return 'stored' as const;
    })();
    if (outcome !== 'stored' && this.db.prepare('SELECT 1 FROM adapters WHERE file = ?').get(relative(this.dataDir, path)) === undefined) rmSync(path, { force: true });
    return outcome;
  }

  /**
   * Moves a verified adapter file (a knowledge pack's, staged on the same disk) into place and
   * writes its row. Synchronous, for the caller's transaction; returns the final path so that a
   * failed transaction can remove it again.
   */
  adoptFile(adapter: Omit<AdapterRecord, 'path'> & { stagedPath: string; sha256: string; sizeBytes: number }): string {
    const path = this.externalPath(adapter.passageId, adapter.baseModel, adapter.sha256);
    renameSync(adapter.stagedPath, path);
    const { stagedPath: _staged, ...row } = adapter;
    this.record({ ...row, path });
    return path;
  }

  /** The adapter rows of some passages for a base model (e.g. to export them). */
  rowsFor(passageIds: number[], baseModel: string): Map<number, { file: string; sha256: string; sizeBytes: number; rank: number; alpha: number; trainLoss: number | null; config: string }> {
    const out = new Map<number, { file: string; sha256: string; sizeBytes: number; rank: number; alpha: number; trainLoss: number | null; config: string }>();
    if (passageIds.length === 0) return out;
    const rows = this.db.prepare(`SELECT passage_id, file, sha256, size_bytes, rank, alpha, train_loss, config FROM adapters
      WHERE base_model = ? AND passage_id IN (SELECT value FROM json_each(?))`).all(baseModel, JSON.stringify(passageIds)) as
      { passage_id: number; file: string; sha256: string; size_bytes: number; rank: number; alpha: number; train_loss: number | null; config: string }[];
    for (const r of rows) out.set(r.passage_id, { file: join(this.dataDir, r.file), sha256: r.sha256, sizeBytes: r.size_bytes, rank: r.rank, alpha: r.alpha, trainLoss: r.train_loss, config: r.config });
    return out;
  }

  /** Adapters of a base model among the passages of some documents (all when null). */
  countForDocuments(baseModel: string, documentIds: number[] | null): number {
    return this.db.prepare(`SELECT COUNT(*) FROM adapters a JOIN passages p ON p.id = a.passage_id
      WHERE a.base_model = ? AND (? IS NULL OR p.document_id IN (SELECT value FROM json_each(?)))`).pluck().get(baseModel, documentIds ? 1 : null, JSON.stringify(documentIds ?? [])) as number;
  }

  private verifyKey(path: string): string {
    const stat = statSync(path);
    return `${path}\u0000${stat.size}\u0000${stat.mtimeMs}`;
  }

  adaptersFor(passageIds: number[]): Map<number, string> {
    const out = new Map<number, string>();
    const baseModel = this.baseModel();
    if (!baseModel || passageIds.length === 0) return out;
    const rows = this.db.prepare(`SELECT passage_id, file, sha256 FROM adapters WHERE base_model = ? AND passage_id IN (${passageIds.map(() => '?').join(',')})`)
      .all(baseModel, ...passageIds) as { passage_id: number; file: string; sha256: string }[];
    for (const row of rows) {
      const path = join(this.dataDir, row.file);
      const problem = this.checkFile(path, row.sha256);
      if (problem) this.refuse(row.passage_id, baseModel, path, problem);
      else out.set(row.passage_id, path);
    }
    return out;
  }

  private checkFile(path: string, sha256: string): string | null {
    let key: string;
    try { key = this.verifyKey(path); } catch { return 'its file is missing'; }
    if (this.verified.get(key) === sha256) return null;
    const actual = createHash('sha256').update(readFileSync(path)).digest('hex');
    if (actual !== sha256) return 'its file does not match its checksum (corrupt or replaced)';
    this.verified.set(key, sha256);
    return null;
  }

  private refuse(passageId: number, baseModel: string, path: string, problem: string): void {
    this.db.prepare('DELETE FROM adapters WHERE passage_id = ? AND base_model = ?').run(passageId, baseModel);
    rmSync(path, { force: true });
    this.jobs.prioritize([passageId], baseModel);
    this.onRefused(passageId, `The adapter of passage ${passageId} was refused: ${problem}. It is queued for encoding again.`);
  }

  requestEncoding(passageIds: number[]): void {
    const baseModel = this.baseModel();
    if (baseModel) this.jobs.prioritize(passageIds, baseModel);
  }

  /** Removes files no row points to (left by a worker killed between rename and commit) and temp files. */
  sweepOrphans(baseModel: string): number {
    const dir = join(adaptersDir(this.dataDir), baseModel);
    let names: string[];
    try { names = readdirSync(dir); } catch { return 0; }
    const known = new Set((this.db.prepare('SELECT file FROM adapters WHERE base_model = ?').all(baseModel) as { file: string }[]).map((r) => join(this.dataDir, r.file)));
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      if (name.startsWith('warmup-')) continue;
      if (!known.has(path)) { rmSync(path, { force: true }); removed++; }
    }
    return removed;
  }

  /**
   * Rewrites every adapter of a base model with other tensor types (e.g. Q8_0 to save disk),
   * without training again. Each file is converted to a new name, its row repointed in one
   * statement, then the old file removed: a crash leaves either file in use, never a half one
   * (an unreferenced new file is swept by sweepOrphans). Returns the bytes before and after.
   */
  async convertAll(baseModel: string, type: AdapterTensorType, onProgress?: (done: number, total: number) => void): Promise<{ count: number; bytesBefore: number; bytesAfter: number }> {
    const rows = this.db.prepare('SELECT passage_id, file, sha256, size_bytes FROM adapters WHERE base_model = ? ORDER BY passage_id').all(baseModel) as
      { passage_id: number; file: string; sha256: string; size_bytes: number }[];
    const repoint = this.db.prepare('UPDATE adapters SET file = ?, sha256 = ?, size_bytes = ? WHERE passage_id = ? AND base_model = ? AND file = ?');
    let bytesBefore = 0;
    let bytesAfter = 0;
    let done = 0;
    for (const row of rows) {
      const oldPath = join(this.dataDir, row.file);
      const problem = this.checkFile(oldPath, row.sha256);
      if (problem) {
        this.refuse(row.passage_id, baseModel, oldPath, problem);
        continue;
      }
      // Alternate between two names so the new file never overwrites the one in use.
      const stem = join(this.modelDir(baseModel), String(row.passage_id));
      const newPath = oldPath === `${stem}.gguf` ? `${stem}.${type}.gguf` : `${stem}.gguf`;
      if (existsSync(newPath)) rmSync(newPath, { force: true });
      await convertAdapter(oldPath, newPath, type);
      const bytes = readFileSync(newPath);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const changed = repoint.run(relative(this.dataDir, newPath), sha256, bytes.length, row.passage_id, baseModel, row.file).changes;
      if (changed === 0) {
        rmSync(newPath, { force: true }); // deleted or re-encoded meanwhile
        continue;
      }
      rmSync(oldPath, { force: true });
      this.verified.set(this.verifyKey(newPath), sha256);
      bytesBefore += row.size_bytes;
      bytesAfter += bytes.length;
      onProgress?.(++done, rows.length);
    }
    return { count: done, bytesBefore, bytesAfter };
  }

  /** How many of these passages have an adapter row for a base model. */
  countFor(passageIds: number[], baseModel: string): number {
    if (passageIds.length === 0) return 0;
    return this.db.prepare('SELECT COUNT(*) FROM adapters WHERE base_model = ? AND passage_id IN (SELECT value FROM json_each(?))').pluck().get(baseModel, JSON.stringify(passageIds)) as number;
  }

  /** Storage used by this base model's adapters. */
  stats(baseModel: string): { count: number; bytes: number } {
    const row = this.db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(size_bytes), 0) AS bytes FROM adapters WHERE base_model = ?').get(baseModel) as { count: number; bytes: number };
    return row;
  }
}
