// One encoder per knowledge base. Two processes encoding the same data folder would train the
// same passages twice and fight over the queue (a server restarted while its old encoder still
// runs, or `paramkb encode` beside the app). The lock is a write transaction held open on a
// small SQLite file beside the database: the operating system drops it when the process ends,
// however it ends, so a killed encoder never leaves a stale lock behind.
import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ParamKbError } from '../../shared/errors.js';

export class EncoderBusyError extends ParamKbError {
  override name = 'EncoderBusyError';
  constructor(readonly dataDir: string, readonly holderPid: number | null) {
    super('encoder-busy', `Another ParamKB process${holderPid ? ` (pid ${holderPid})` : ''} is already encoding the knowledge base in ${dataDir}: the desktop app, \`paramkb serve\` or \`paramkb encode\`. Only one process encodes a knowledge base at a time; stop the other one or wait until it is done.`);
  }
}

export interface EncoderLock {
  /** Releases the lock; safe to call twice. */
  release(): void;
}

interface Holder { pid: number; host: string; since: string }

/** Takes the encoding lock of a data folder, or throws EncoderBusyError at once. */
export function acquireEncoderLock(dataDir: string): EncoderLock {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, 'encoder.lock');
  const holderPath = `${lockPath}.json`;
  const db = new BetterSqlite3(lockPath, { timeout: 0 });
  try {
    // A reserved lock: a second writer is refused at once (busy), readers are not blocked.
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw new EncoderBusyError(dataDir, readHolder(holderPath)?.pid ?? null);
  }
  const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeFileSync(holderPath, JSON.stringify(holder));
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      if (readHolder(holderPath)?.pid === process.pid) rmSync(holderPath, { force: true });
      db.close();
    },
  };
}

function readHolder(path: string): Holder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return null;
  }
}
