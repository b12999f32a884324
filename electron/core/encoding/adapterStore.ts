// Adapter files under <data>/adapters/<base model>/<passage id>.gguf, with their sha256 and the
// base model's fingerprint in the database. An adapter is only used when its row matches the
// loaded base model and its file matches its checksum; otherwise it is refused, removed and
// its passage queued again, so a corrupt or foreign file never reaches the model.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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
  record(adapter: AdapterRecord): void {
    const bytes = readFileSync(adapter.path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.db.prepare(`
      INSERT INTO adapters (passage_id, base_model, file, sha256, size_bytes, rank, alpha, train_loss, config, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (passage_id, base_model) DO UPDATE SET file = excluded.file, sha256 = excluded.sha256, size_bytes = excluded.size_bytes,
        rank = excluded.rank, alpha = excluded.alpha, train_loss = excluded.train_loss, config = excluded.config, created_at = excluded.created_at`)
      .run(adapter.passageId, adapter.baseModel, relative(this.dataDir, adapter.path), sha256, bytes.length, adapter.rank, adapter.alpha,
        adapter.trainLoss, JSON.stringify(adapter.config), nowIso());
    this.verified.set(this.verifyKey(adapter.path), sha256);
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
