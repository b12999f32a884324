// Imports files, whole folders, uploads and JSONL records into the knowledge base. Each file is
// read, hashed (an unchanged file is skipped before parsing), turned into text and passages,
// and saved in one transaction. A failure is recorded for that file with a clear reason and
// the import goes on.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import type { ImportFailure, ImportFailureList, ImportProgress, ImportReport, RecordedImportFailure } from '../../shared/types.js';
import { nowIso, type Db } from '../database/database.js';
import type { DocumentInput, DocumentStore } from '../database/documentStore.js';
import { extractText, formatOf, ImportFileError, supportedFormatOf, unsupportedFormatReason } from './extractText.js';
import { splitIntoPassages, type PassageOptions } from './passages.js';

export interface ImportOptions extends PassageOptions {
  /** Files over this size are refused without being read. Default 50 MiB. */
  maxFileBytes?: number;
  onProgress?: (progress: ImportProgress) => void;
}

export const DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024;

interface ImportSource {
  sourceKey: string;
  path: string | null;
  name: string;
  sizeBytes: number;
  read: () => Promise<Uint8Array>;
}

export class Importer {
  constructor(private readonly db: Db, private readonly documents: DocumentStore) {}

  /**
   * Imports files and folders, recursively. Hidden entries are passed over; unsupported files
   * and links back into the folder are skipped, and listed as such in the report.
   */
  async importPaths(paths: string[], options: ImportOptions = {}): Promise<ImportReport> {
    const found: Found = { sources: [], failed: [], skipped: [] };
    for (const p of paths) await this.collect(resolve(p), true, found, new Set());
    return this.importSources(found.sources, found.failed, options, found.skipped);
  }

  /**
   * Imports files sent by content (the renderer's file picker or drag and drop). Each is known
   * by the relative path it was sent with (a folder upload's "projA/notes.md"), so files of the
   * same name in different folders stay different documents.
   */
  async importUploads(files: { name: string; bytes: Uint8Array }[], options: ImportOptions = {}): Promise<ImportReport> {
    const sources = files.map((f): ImportSource => {
      const relativePath = uploadPath(f.name);
      return { sourceKey: `upload:${relativePath}`, path: null, name: relativePath, sizeBytes: f.bytes.length, read: async () => f.bytes };
    });
    return this.importSources(sources, [], options);
  }

  /** Imports ready-made text records (the eval's docs.jsonl: {id, title, text}), one document each. */
  importRecords(records: { id: string; title: string; text: string }[], options: PassageOptions = {}): ImportReport {
    const report = emptyReport();
    for (const r of records) {
      const text = r.text.trim();
      const bytes = Buffer.from(`${r.title}\n${text}`, 'utf8');
      this.saveDocument({
        sourceKey: `record:${r.id}`, path: null, title: r.title, format: 'txt', sizeBytes: bytes.length,
        contentHash: sha256(bytes), passages: splitIntoPassages(text, options),
      }, report);
    }
    return report;
  }

  private async collect(path: string, explicit: boolean, found: Found, seen: Set<string>): Promise<void> {
    const linkPath = path;
    let stat;
    try {
      stat = await lstat(path);
      if (stat.isSymbolicLink()) {
        const target = await realpath(path);
        stat = await lstat(target);
        path = target;
      }
    } catch (error) {
      found.failed.push({ path, code: 'unreadable', reason: `Cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message}.` });
      return;
    }
    if (seen.has(path)) {
      // A path given twice is simply imported once; a link to what this import already holds is said.
      if (linkPath !== path) {
        const loop = stat.isDirectory() && linkPath.startsWith(path + sep);
        found.skipped.push({
          path: linkPath, code: loop ? 'symlink-loop' : 'duplicate-link',
          reason: loop ? `Skipped: it links back to ${path}, a folder that contains it (a link loop).` : `Skipped: it links to ${path}, which this import already includes.`,
        });
      }
      return;
    }
    seen.add(path);
    if (stat.isDirectory()) {
      let entries: string[];
      try {
        entries = (await readdir(path)).sort();
      } catch (error) {
        found.failed.push({ path, code: 'unreadable', reason: `Cannot list the folder ${path}: ${(error as Error).message}.` });
        return;
      }
      for (const entry of entries) {
        if (entry.startsWith('.')) continue;
        await this.collect(join(path, entry), false, found, seen);
      }
      return;
    }
    if (!stat.isFile()) return;
    // Inside a folder, files we cannot import are skipped (and listed); named explicitly, they fail.
    if (!explicit && !formatOf(path)) {
      found.skipped.push({ path, code: 'unsupported', reason: `Skipped: ${unsupportedFormatReason(path)}` });
      return;
    }
    const filePath = path;
    found.sources.push({ sourceKey: filePath, path: filePath, name: basename(filePath), sizeBytes: stat.size, read: async () => new Uint8Array(await readFile(filePath)) });
  }

  private async importSources(sources: ImportSource[], failed: ImportFailure[], options: ImportOptions, skipped: ImportFailure[] = []): Promise<ImportReport> {
    const report = emptyReport();
    report.failed.push(...failed);
    report.skipped.push(...skipped);
    const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    let done = 0;
    for (const source of sources) {
      options.onProgress?.({ done, total: sources.length, currentPath: source.path ?? source.name });
      try {
        const format = supportedFormatOf(source.name);
        if (source.sizeBytes > maxBytes) {
          throw new ImportFileError('too-large', `The file is ${formatMiB(source.sizeBytes)}, over the ${formatMiB(maxBytes)} limit; split it into smaller files.`);
        }
        let bytes: Uint8Array;
        try {
          bytes = await source.read();
        } catch (error) {
          throw new ImportFileError('unreadable', `Cannot read the file: ${(error as Error).message}.`, { cause: error });
        }
        const contentHash = sha256(bytes);
        this.db.prepare('DELETE FROM import_failures WHERE source_key = ?').run(source.path ?? source.name);
        const storedHash = this.documents.contentHashOf(source.sourceKey);
        // An upload has no path to know it by: a new one whose content is already a document
        // (imported from disk, or uploaded under another name) is that document.
        const sameContent = source.path === null && storedHash === null ? this.documents.idWithContent(contentHash) : null;
        if (storedHash === contentHash || sameContent !== null) {
          report.unchanged++;
          if (sameContent !== null) report.documentIds.push(sameContent);
        } else {
          const { title, text } = await extractText(source.name, bytes);
          const passages = splitIntoPassages(text, options);
          this.saveDocument({
            sourceKey: source.sourceKey, path: source.path, title: title ?? titleFromName(basename(source.name)),
            format, sizeBytes: bytes.length, contentHash, passages,
          }, report);
        }
      } catch (error) {
        const failure: ImportFailure = error instanceof ImportFileError
          ? { path: source.path ?? source.name, code: error.code, reason: error.message }
          : { path: source.path ?? source.name, code: 'corrupt', reason: `The file could not be parsed: ${(error as Error).message}` };
        report.failed.push(failure);
      }
      done++;
    }
    options.onProgress?.({ done, total: sources.length, currentPath: '' });
    this.recordFailures([...report.failed, ...report.skipped]);
    return report;
  }

  private saveDocument(input: DocumentInput, report: ImportReport): void {
    const { id, outcome } = this.documents.save(input);
    report[outcome]++;
    if (outcome !== 'unchanged') report.passages += input.passages.length;
    report.documentIds.push(id);
  }

  /** Records the files that were not imported, until the user dismisses them; a file imported since is no longer listed. */
  private recordFailures(failures: ImportFailure[]): void {
    if (failures.length === 0) return;
    const insert = this.db.prepare('INSERT INTO import_failures (source_key, code, reason, at) VALUES (?, ?, ?, ?)');
    const at = nowIso();
    this.db.transaction(() => { for (const f of failures) insert.run(f.path, f.code, f.reason, at); })();
  }

  /** The files not imported since the list was last dismissed: how many, and the newest `limit`. */
  listFailures(limit = 200): ImportFailureList {
    const total = (this.db.prepare('SELECT COUNT(*) FROM import_failures').pluck().get() as number);
    const items = this.db.prepare('SELECT id, source_key AS path, code, reason, at FROM import_failures ORDER BY id DESC LIMIT ?').all(limit) as RecordedImportFailure[];
    return { total, items };
  }

  dismissFailures(): void {
    this.db.prepare('DELETE FROM import_failures').run();
  }
}

interface Found {
  sources: ImportSource[];
  failed: ImportFailure[];
  skipped: ImportFailure[];
}


function emptyReport(): ImportReport {
  return { added: 0, updated: 0, unchanged: 0, failed: [], skipped: [], documentIds: [], passages: 0 };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An upload's relative path with forward slashes, without empty, '.' or '..' parts. */
function uploadPath(name: string): string {
  const parts = name.split(/[\\/]+/).filter((part) => part !== '' && part !== '.' && part !== '..');
  return parts.join('/') || 'unnamed';
}

function titleFromName(name: string): string {
  return basename(name, extname(name)).replace(/[_-]+/g, ' ').trim() || name;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
