// The persistent encoding queue (SQLite). Jobs move queued → running → done | failed |
// cancelled. Every transition is one transaction, so a worker killed at any moment leaves
// either a queued or a running job; `recoverInterrupted` puts running jobs back in the queue
// when a worker starts, and an adapter row is only written together with its job's 'done'.
import type { EncodingQueueStatus } from '../../shared/types.js';
import { nowIso, type Db } from '../database/database.js';

export interface EncodeJob {
  id: number;
  passageId: number;
  baseModel: string;
  attempts: number;
}

/** A job as `paramkb jobs` lists it. */
export interface JobRow {
  id: number;
  passageId: number;
  /** The passage's document, or null when it was deleted. */
  title: string | null;
  state: string;
  attempts: number;
  progress: number;
  step: string | null;
  error: string | null;
}

/** A job is retried this many times before it is marked failed. */
export const MAX_ATTEMPTS = 3;

/** The step of a running job that waits on remote workers (`paramkb encode --redis`). */
export const REMOTE_STEP = 'remote';

/**
 * The order jobs are taken in, by need: passages that questions retrieved first (priority, see
 * prioritize), then the latest import's (one enqueue call shares a created_at), each import in
 * its own order, so the adapters a user is likely to ask about soon exist soonest.
 */
const BY_NEED = 'j.priority DESC, j.created_at DESC, j.id';

export class JobQueue {
  constructor(private readonly db: Db) {}

  /** Queues encoding for passages that have neither an adapter for `baseModel` nor an open job. */
  enqueue(passageIds: number[], baseModel: string, priority = 0): number {
    if (passageIds.length === 0) return 0;
    const now = nowIso();
    const insert = this.db.prepare(`
      INSERT OR IGNORE INTO jobs (kind, passage_id, base_model, state, priority, created_at, updated_at)
      SELECT 'encode', p.id, ?, 'queued', ?, ?, ? FROM passages p
      WHERE p.id = ? AND NOT EXISTS (SELECT 1 FROM adapters a WHERE a.passage_id = p.id AND a.base_model = ?)`);
    let added = 0;
    this.db.transaction(() => {
      for (const id of passageIds) added += insert.run(baseModel, priority, now, now, id, baseModel).changes;
    })();
    return added;
  }

  /** Moves queued jobs of these passages to the front (a question needed them), queuing missing ones. */
  prioritize(passageIds: number[], baseModel: string): void {
    if (passageIds.length === 0) return;
    this.db.transaction(() => {
      const top = (this.db.prepare("SELECT COALESCE(MAX(priority), 0) AS p FROM jobs WHERE state = 'queued'").get() as { p: number }).p + 1;
      this.enqueue(passageIds, baseModel, top);
      const bump = this.db.prepare("UPDATE jobs SET priority = ?, updated_at = ? WHERE state = 'queued' AND passage_id = ? AND base_model = ?");
      for (const id of passageIds) bump.run(top, nowIso(), id, baseModel);
    })();
  }

  /** Takes the next queued job for `baseModel` (among some passages only, if given) and marks it running. */
  claim(baseModel: string, among?: number[]): EncodeJob | null {
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT j.id, j.passage_id, j.base_model, j.attempts FROM jobs j WHERE j.state = 'queued' AND j.base_model = ?
        AND (? IS NULL OR j.passage_id IN (SELECT value FROM json_each(?))) ORDER BY ${BY_NEED} LIMIT 1`)
        .get(baseModel, among ? 1 : null, JSON.stringify(among ?? [])) as { id: number; passage_id: number; base_model: string; attempts: number } | undefined;
      if (!row) return null;
      const now = nowIso();
      this.db.prepare("UPDATE jobs SET state = 'running', attempts = attempts + 1, progress = 0, step = 'starting', started_at = ?, updated_at = ? WHERE id = ?").run(now, now, row.id);
      return { id: row.id, passageId: row.passage_id, baseModel: row.base_model, attempts: row.attempts + 1 };
    })();
  }

  /**
   * Takes the queued jobs of `baseModel` (of some passages only, if given) for encoding on
   * remote workers, together with those a stopped publisher left: all become running with step
   * REMOTE_STEP, so the local encoder leaves them alone.
   */
  claimForRemote(baseModel: string, among?: number[]): EncodeJob[] {
    return this.db.transaction(() => {
      const rows = this.db.prepare(`SELECT j.id, j.passage_id, j.base_model, j.attempts, j.state FROM jobs j WHERE j.base_model = ?
        AND (j.state = 'queued' OR (j.state = 'running' AND j.step = ?))
        AND (? IS NULL OR j.passage_id IN (SELECT value FROM json_each(?))) ORDER BY ${BY_NEED}`)
        .all(baseModel, REMOTE_STEP, among ? 1 : null, JSON.stringify(among ?? [])) as { id: number; passage_id: number; base_model: string; attempts: number; state: string }[];
      const now = nowIso();
      const take = this.db.prepare("UPDATE jobs SET state = 'running', attempts = attempts + 1, progress = 0, step = ?, started_at = ?, updated_at = ? WHERE id = ?");
      return rows.map((row) => {
        if (row.state === 'queued') take.run(REMOTE_STEP, now, now, row.id);
        return { id: row.id, passageId: row.passage_id, baseModel: row.base_model, attempts: row.state === 'queued' ? row.attempts + 1 : row.attempts };
      });
    })();
  }

  /** After a crash: running jobs go back to the queue, or fail once they used all attempts. */
  recoverInterrupted(): number {
    const now = nowIso();
    return this.db.transaction(() => {
      this.db.prepare("UPDATE jobs SET state = 'failed', error = 'The encoder stopped during this passage ' || attempts || ' times.', finished_at = ?, updated_at = ? WHERE state = 'running' AND attempts >= ?").run(now, now, MAX_ATTEMPTS);
      return this.db.prepare("UPDATE jobs SET state = 'queued', step = NULL, progress = 0, updated_at = ? WHERE state = 'running'").run(now).changes;
    })();
  }

  progress(jobId: number, progress: number, step: string): void {
    this.db.prepare("UPDATE jobs SET progress = ?, step = ?, updated_at = ? WHERE id = ? AND state = 'running'").run(progress, step, nowIso(), jobId);
  }

  /**
   * Marks a job done; `inSameTransaction` writes its adapter row atomically with it. `seconds`:
   * the encoding time it cost, for the rate of the queue.
   */
  complete(jobId: number, inSameTransaction: () => void, seconds: number | null = null): void {
    this.db.transaction(() => {
      inSameTransaction();
      const now = nowIso();
      this.db.prepare("UPDATE jobs SET state = 'done', progress = 1, step = 'done', error = NULL, seconds = ?, finished_at = ?, updated_at = ? WHERE id = ?").run(seconds, now, now, jobId);
    })();
  }

  /** Records a failure: the job is queued again (at the back) until it has used its attempts. */
  fail(jobId: number, error: string, retry: boolean): void {
    const now = nowIso();
    this.db.prepare(`
      UPDATE jobs SET
        state = CASE WHEN ? AND attempts < ? THEN 'queued' ELSE 'failed' END,
        priority = CASE WHEN ? AND attempts < ? THEN priority - 1 ELSE priority END,
        error = ?, step = NULL, finished_at = CASE WHEN ? AND attempts < ? THEN NULL ELSE ? END, updated_at = ?
      WHERE id = ?`).run(retry ? 1 : 0, MAX_ATTEMPTS, retry ? 1 : 0, MAX_ATTEMPTS, error, retry ? 1 : 0, MAX_ATTEMPTS, now, now, jobId);
  }

  /** Puts a job that was interrupted on purpose (pause, shutdown) back in the queue without counting the attempt. */
  release(jobId: number): void {
    this.db.prepare("UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), step = NULL, progress = 0, updated_at = ? WHERE id = ? AND state = 'running'").run(nowIso(), jobId);
  }

  /** Puts jobs that were out on remote workers back in the queue (a stopped `encode --redis`), leaving any other state alone. */
  releaseRemote(jobIds: number[]): void {
    if (jobIds.length === 0) return;
    this.db.prepare(`UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), step = NULL, progress = 0, updated_at = ?
      WHERE id IN (SELECT value FROM json_each(?)) AND state = 'running' AND step = ?`).run(nowIso(), JSON.stringify(jobIds), REMOTE_STEP);
  }

  /** Cancels the open jobs of some passages (all when `passageIds` is null). */
  cancel(passageIds: number[] | null): number {
    const now = nowIso();
    if (passageIds === null) return this.db.prepare("UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE state = 'queued'").run(now, now).changes;
    const stmt = this.db.prepare("UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE state = 'queued' AND passage_id = ?");
    let n = 0;
    this.db.transaction(() => { for (const id of passageIds) n += stmt.run(now, now, id).changes; })();
    return n;
  }

  /**
   * Cancels the queued jobs of a base model that no question asked for (queued in bulk, at
   * priority 0 or below: prioritize() puts requested ones above), when encoding turns to on demand.
   */
  cancelUnrequested(baseModel: string): number {
    const now = nowIso();
    return this.db.prepare("UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE state = 'queued' AND base_model = ? AND priority <= 0").run(now, now, baseModel).changes;
  }

  /** Mean encoding seconds of the last 20 finished jobs of a base model, or null before the first. */
  secondsPerPassage(baseModel: string): number | null {
    const row = this.db.prepare(`
      SELECT AVG(COALESCE(seconds, (julianday(finished_at) - julianday(started_at)) * 86400)) AS seconds FROM
        (SELECT seconds, started_at, finished_at FROM jobs WHERE state = 'done' AND base_model = ? AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT 20)`).get(baseModel) as { seconds: number | null };
    return row.seconds;
  }

  /** True when a job was cancelled or its passage deleted while it ran (its result must be dropped). */
  /**
   * The passages to augment in one batch with job `jobId`'s: its own first, then the next queued
   * ones (among `among` if given) that have no augmentation yet, at most `limit`.
   */
  toAugmentWith(jobId: number, baseModel: string, among: number[] | undefined, limit: number): { id: number; text: string }[] {
    return this.db.prepare(`
      SELECT p.id, p.text FROM jobs j JOIN passages p ON p.id = j.passage_id
      WHERE j.base_model = ? AND p.augmentation IS NULL
        AND (j.id = ? OR (j.state = 'queued' AND (? IS NULL OR p.id IN (SELECT value FROM json_each(?)))))
      ORDER BY j.id = ? DESC, ${BY_NEED} LIMIT ?`)
      .all(baseModel, jobId, among ? 1 : null, JSON.stringify(among ?? []), jobId, limit) as { id: number; text: string }[];
  }

  /** How many of these passages wait in the queue for `baseModel`. */
  countQueued(baseModel: string, passageIds: number[]): number {
    return this.db.prepare("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND base_model = ? AND passage_id IN (SELECT value FROM json_each(?))").pluck().get(baseModel, JSON.stringify(passageIds)) as number;
  }

  isStillRunning(jobId: number): boolean {
    return this.db.prepare("SELECT 1 FROM jobs WHERE id = ? AND state = 'running'").get(jobId) !== undefined;
  }

  /** Jobs an encoder on this machine is running (not those out on remote workers). */
  runningLocally(): number {
    return this.db.prepare("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND step IS NOT ?").pluck().get(REMOTE_STEP) as number;
  }

  /** Jobs of a base model: running first, then queued, failed, the rest. */
  list(baseModel: string, limit: number): JobRow[] {
    return this.db.prepare(`
      SELECT j.id, j.passage_id AS passageId, d.title, j.state, j.attempts, j.progress, j.step, j.error FROM jobs j
      LEFT JOIN passages p ON p.id = j.passage_id LEFT JOIN documents d ON d.id = p.document_id
      WHERE j.base_model = ?
      ORDER BY CASE j.state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'failed' THEN 2 ELSE 3 END, j.priority DESC, j.id DESC LIMIT ?`)
      .all(baseModel, limit) as JobRow[];
  }

  /** True while the knowledge base's encoding policy is 'paused' (Settings.encodingPolicy). */
  isPaused(): boolean {
    return (this.db.prepare("SELECT value FROM settings WHERE key = 'ui.encodingPolicy'").get() as { value: string } | undefined)?.value === '"paused"';
  }

  /** The queue's counts and current job (the engine adds whether encoding can run at all). */
  status(baseModel: string | null): Omit<EncodingQueueStatus, 'availability' | 'device'> {
    const model = baseModel ?? '';
    const counts = this.db.prepare(`
      SELECT
        SUM(state = 'queued') AS queued, SUM(state = 'running') AS running, SUM(state = 'done') AS done, SUM(state = 'failed') AS failed
      FROM jobs WHERE base_model = ?`).get(model) as { queued: number | null; running: number | null; done: number | null; failed: number | null };
    const current = this.db.prepare(`
      SELECT j.passage_id, p.document_id, p.position, d.title, j.step, j.progress FROM jobs j
      JOIN passages p ON p.id = j.passage_id JOIN documents d ON d.id = p.document_id
      WHERE j.state = 'running' AND j.base_model = ? ORDER BY j.started_at DESC LIMIT 1`).get(model) as
      { passage_id: number; document_id: number; position: number; title: string; step: string | null; progress: number } | undefined;
    // Rate and time left from the last 20 finished jobs, as soon as one is done.
    const secondsPerPassage = this.secondsPerPassage(model);
    const queued = counts.queued ?? 0;
    const running = counts.running ?? 0;
    const done = counts.done ?? 0;
    const failed = counts.failed ?? 0;
    return {
      paused: this.isPaused(),
      queued, running, done, failed,
      total: queued + running + done + failed,
      current: current ? {
        passageId: current.passage_id, documentId: current.document_id, position: current.position, documentTitle: current.title,
        step: current.step ?? '', progress: current.progress,
      } : null,
      secondsPerPassage,
      // The running job counts for what it has left.
      etaSeconds: secondsPerPassage !== null && queued + running > 0 ? Math.round(secondsPerPassage * (queued + running - (current?.progress ?? 0))) : null,
      blocked: null,
    };
  }
}
