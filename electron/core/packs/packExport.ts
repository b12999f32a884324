// Writes a knowledge pack (see packFormat.ts) as a stream: documents are read from a snapshot of
// the database a page at a time, adapter files are streamed from disk and checked against their
// recorded sha256 on the way, and the file appears under its name only when it is complete.
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { PACK_FILE_EXTENSION } from '../../shared/contract.js';
import { CancelledError } from '../../shared/errors.js';
import { openSnapshot } from '../database/database.js';
import { DocumentStore } from '../database/documentStore.js';
import { AdapterStore } from '../encoding/adapterStore.js';
import { validateAugmentation, type Augmentation } from '../encoding/augmentation.js';
import { FieldChecks } from '../fieldChecks.js';
import { JobQueue } from '../encoding/jobQueue.js';
import type { ModelIdentity } from '../llm/modelIdentity.js';
import { databasePath } from '../paths.js';
import {
  HEADER_ENTRY, MANIFEST_ENTRY, PACK_FORMAT, PACK_VERSION, PASSAGES_PER_CHUNK, PackError, encodeVector,
  type PackDocument, type PackHeader, type PackManifest, type PassageVectors,
} from './packFormat.js';

export interface ExportPackOptions {
  dataDir: string;
  /** Where the pack goes; it must end in .paramkb. An existing file is replaced once the new one is complete. */
  outPath: string;
  /** Only these documents. Default: all. */
  documentIds?: number[] | null;
  /** The model whose adapters go into the pack, with its prompt profile; null: documents and augmentations only. */
  model: { identity: ModelIdentity; promptProfile: string } | null;
  vectors?: PassageVectors | null;
  /** Called as passages are written. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ExportPackResult {
  path: string;
  documents: number;
  passages: number;
  adapters: number;
  bytes: number;
}

/** Documents read from the snapshot per query. */
const DOCUMENT_PAGE = 200;

export async function exportPack(options: ExportPackOptions): Promise<ExportPackResult> {
  if (!options.outPath.endsWith(PACK_FILE_EXTENSION)) throw new PackError('pack-extension', `A knowledge pack's file name ends in ${PACK_FILE_EXTENSION}; got ${basename(options.outPath)}.`);
  try {
    accessSync(dirname(options.outPath), constants.W_OK);
  } catch (error) {
    throw new PackError('pack-write', `Cannot write the pack into ${dirname(options.outPath)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the folder does not exist' : 'no permission'}. Choose another place.`);
  }
  const only = options.documentIds && options.documentIds.length > 0 ? options.documentIds : null;
  const temp = `${options.outPath}.${process.pid}.partial`;
  const db = openSnapshot(databasePath(options.dataDir));
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(temp));
  written.catch(() => undefined); // awaited below; a failure here also fails the next entry
  const manifest: PackManifest = { format: PACK_FORMAT, version: PACK_VERSION, entries: [] };
  const mtime = new Date();
  const counts = { documents: 0, passages: 0, adapters: 0 };
  try {
    const documents = new DocumentStore(db, () => options.model?.identity.fingerprint ?? null);
    const adapters = new AdapterStore(db, options.dataDir, () => options.model?.identity.fingerprint ?? null, new JobQueue(db));
    const baseModel = options.model?.identity.fingerprint ?? null;
    const total = documents.passageCount(only);
    if (only) {
      const found = documents.documentsForPack(0, only.length, only).length;
      if (found !== new Set(only).size) throw new PackError('not-found', `Some of the documents ${only.join(', ')} do not exist (see paramkb status or the Knowledge view).`);
    }

    const addBuffer = async (name: string, bytes: Buffer) => {
      manifest.entries.push({ name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      await new Promise<void>((resolve, reject) => pack.entry({ name, size: bytes.length, mtime }, bytes, (error) => (error ? reject(error) : resolve())));
    };
    const addFile = async (name: string, path: string, expectedSha256: string, what: string) => {
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        throw new PackError('adapter-missing', `${what} is missing its file (deleted while the pack was written, or lost); encode it again, then export.`);
      }
      const hash = createHash('sha256');
      const tap = new PassThrough();
      tap.on('data', (chunk: Buffer) => hash.update(chunk));
      const entry = pack.entry({ name, size, mtime });
      await pipeline(createReadStream(path), tap, entry);
      const sha256 = hash.digest('hex');
      // The pack would be refused on import anyway; say now which adapter is damaged.
      if (sha256 !== expectedSha256) throw new PackError('adapter-damaged', `${what} does not match its checksum (the file was changed or damaged); encode it again, then export.`);
      manifest.entries.push({ name, size, sha256 });
    };

    // Counted on the same snapshot the pack is written from.
    const adapterCount = baseModel ? adapters.countForDocuments(baseModel, only) : 0;
    const header: PackHeader = {
      format: PACK_FORMAT, version: PACK_VERSION, createdAt: mtime.toISOString(),
      model: adapterCount > 0 ? options.model!.identity : null,
      promptProfile: adapterCount > 0 ? options.model!.promptProfile : null,
      counts: { documents: 0, passages: total, adapters: adapterCount },
      vectors: options.vectors ? { model: options.vectors.model, dimensions: options.vectors.dimensions } : null,
    };
    header.counts.documents = only ? new Set(only).size : documents.counts().documents;
    await addBuffer(HEADER_ENTRY, Buffer.from(JSON.stringify(header, null, 2)));

    let chunk: PackDocument[] = [];
    let chunkPassages = 0;
    let chunkAdapters: { name: string; path: string; sha256: string; passageId: number }[] = [];
    let chunkNumber = 0;
    let adapterNumber = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      const name = `documents/${String(++chunkNumber).padStart(6, '0')}.jsonl.gz`;
      await addBuffer(name, gzipSync(Buffer.from(chunk.map((d) => JSON.stringify(d)).join('\n'))));
      for (const a of chunkAdapters) await addFile(a.name, a.path, a.sha256, `The adapter of passage ${a.passageId}`);
      counts.passages += chunkPassages;
      options.onProgress?.(counts.passages, total);
      chunk = [];
      chunkPassages = 0;
      chunkAdapters = [];
    };
    for (let after = 0; ;) {
      const page = documents.documentsForPack(after, DOCUMENT_PAGE, only);
      if (page.length === 0) break;
      after = page.at(-1)!.id;
      const rows = baseModel ? adapters.rowsFor(page.flatMap((d) => d.passages.map((p) => p.id)), baseModel) : new Map();
      for (const doc of page) {
        if (options.signal?.aborted) throw new CancelledError('The export');
        chunk.push({
          title: doc.title, format: doc.format, sizeBytes: doc.sizeBytes, contentHash: doc.contentHash,
          passages: doc.passages.map((p) => {
            const row = rows.get(p.id);
            let adapter: PackDocument['passages'][number]['adapter'] = null;
            if (row) {
              const name = `adapters/${String(++adapterNumber).padStart(6, '0')}.gguf`;
              chunkAdapters.push({ name, path: row.file, sha256: row.sha256, passageId: p.id });
              adapter = { entry: name, rank: row.rank, alpha: row.alpha, trainLoss: row.trainLoss, config: parseConfig(row.config) };
              counts.adapters++;
            }
            const vector = options.vectors?.get(p.id);
            return {
              position: p.position, text: p.text, wordCount: p.wordCount, augmentation: parseAugmentation(p.augmentation), adapter,
              ...(vector ? { vector: encodeVector(vector) } : {}),
            };
          }),
        });
        counts.documents++;
        chunkPassages += doc.passages.length;
        if (chunkPassages >= PASSAGES_PER_CHUNK) await flush();
      }
    }
    await flush();
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    await new Promise<void>((resolve, reject) => pack.entry({ name: MANIFEST_ENTRY, size: manifestBytes.length, mtime }, manifestBytes, (error) => (error ? reject(error) : resolve())));
    pack.finalize();
    await written;
    renameSync(temp, options.outPath);
    return { path: options.outPath, ...counts, bytes: statSync(options.outPath).size };
  } catch (error) {
    pack.destroy();
    await written.catch(() => undefined);
    rmSync(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EIO') {
      throw new PackError('pack-write', `Cannot write the pack ${options.outPath}: ${(error as Error).message}. Nothing was written.`, { cause: error });
    }
    throw error;
  } finally {
    db.close();
  }
}

const augmentationCheck = new FieldChecks((path, what) => new Error(`${path} ${what}`));

/** A stored augmentation as the pack carries it; a damaged one is left out (the importer generates it again). */
function parseAugmentation(json: string | null): Augmentation | null {
  if (!json) return null;
  try { return validateAugmentation(augmentationCheck, 'augmentation', JSON.parse(json)); } catch { return null; }
}

function parseConfig(json: string): unknown {
  try { return JSON.parse(json); } catch { return null; }
}
