// The knowledge base's SQLite database: WAL, foreign keys, versioned migrations. Every write
// that touches several rows goes through `transaction` so a crash never leaves half an import.
import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { getLoadablePath } from 'sqlite-vec';
import { ParamKbError } from '../../shared/errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = BetterSqlite3.Database;

export class DatabaseError extends ParamKbError {
  override name = 'DatabaseError';
}

/** Opens (creating if needed) the database at `path` and brings its schema up to date. */
export function openDatabase(path: string): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Db;
  try {
    db = new BetterSqlite3(path);
  } catch (error) {
    throw new DatabaseError('database-open', `Cannot open the database at ${path}: ${(error as Error).message}`, { cause: error });
  }
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
  // last transactions, which the job queue tolerates (it re-runs unfinished jobs).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  loadVectorExtension(db);
  migrate(db);
  return db;
}

/**
 * Loads sqlite-vec into a connection. Every connection needs it, not only the one that searches:
 * deleting a passage deletes its rows in the vec0 indexes by trigger (VectorStore).
 */
function loadVectorExtension(db: Db): void {
  // In a packaged app the library is unpacked beside the asar archive (electron-builder.yml).
  const path = getLoadablePath().replace(/app\.asar([\\/])/, 'app.asar.unpacked$1');
  try {
    db.loadExtension(path);
  } catch (error) {
    throw new DatabaseError('vector-extension', `Cannot load sqlite-vec from ${path}: ${(error as Error).message}. Reinstall ParamKB.`, { cause: error });
  }
}

/**
 * A read-only connection that sees the database as it was when it opened, whatever is written
 * meanwhile (one WAL read transaction), for long reads such as a knowledge pack export. Close it
 * when done: until then the WAL cannot be checkpointed past it.
 */
export function openSnapshot(path: string): Db {
  let db: Db;
  try {
    db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new DatabaseError('database-open', `Cannot open the database at ${path}: ${(error as Error).message}`, { cause: error });
  }
  db.pragma('busy_timeout = 5000');
  loadVectorExtension(db);
  db.exec('BEGIN');
  db.prepare('SELECT COUNT(*) FROM documents').get(); // the snapshot starts at the first read
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new DatabaseError('database-too-new', `This knowledge base was written by a newer ParamKB (schema ${version}, this version knows ${MIGRATIONS.length}). Update ParamKB.`);
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
