// Imports a knowledge pack (see packFormat.ts) in two steps, so that a damaged, cut-short or
// foreign pack changes nothing:
// 1. Verify: the archive is streamed once; pack.json is checked first (format version, base
//    model), then every entry is hashed while it is copied to a staging folder beside the
//    database, and the hashes are compared with manifest.json at the end.
// 2. Merge: one database transaction adds the documents that are not already here (recognized
//    by content hash), their passages, augmentations and vectors, and moves the staged adapter
//    files into place. If anything fails, the transaction rolls back and the moved files are
//    removed; if the process dies, SQLite rolls back and the unreferenced files are swept by the
//    adapter store like any orphan.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { CancelledError } from '../../shared/errors.js';
import type { PackImportReport } from '../../shared/types.js';
import type { Db } from '../database/database.js';
import type { DocumentStore } from '../database/documentStore.js';
import type { AdapterStore } from '../encoding/adapterStore.js';
import type { JobQueue } from '../encoding/jobQueue.js';
import { describeModel } from '../llm/modelIdentity.js';
import { processAlive } from '../processAlive.js';
import {
  ADAPTER_ENTRY, DOCUMENTS_ENTRY, HEADER_ENTRY, MANIFEST_ENTRY, MAX_ADAPTER_BYTES, MAX_CHUNK_BYTES, MAX_CHUNK_TEXT_BYTES, MAX_HEADER_BYTES,
  MAX_MANIFEST_BYTES, PackError, decodeVector, parsePackDocument, parsePackHeader, parsePackManifest, type PackHeader, type PassageVectors,
} from './packFormat.js';

export interface ImportPackOptions {
  db: Db;
  dataDir: string;
  documents: DocumentStore;
  adapters: AdapterStore;
  jobs: JobQueue;
  inPath: string;
  /** The loaded model and its prompt profile fingerprint; a pack with adapters needs the same model. */
  model: { fingerprint: string; promptProfile: string } | null;
  vectors?: PassageVectors | null;
  onProgress?: (progress: { phase: 'verifying' | 'importing'; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface ImportPackResult extends PackImportReport {
  /** The documents added, whose passages without an adapter are to be encoded. */
  documentIds: number[];
}

const STAGING_PREFIX = 'pack-import-';

export async function importPack(options: ImportPackOptions): Promise<ImportPackResult> {
  let size: number;
  try {
    const stat = statSync(options.inPath);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    throw new PackError('pack-missing', `The knowledge pack ${options.inPath} does not exist or cannot be read.`);
  }
  removeStaleStaging(options.dataDir);
  const staging = join(options.dataDir, `${STAGING_PREFIX}${process.pid}-${randomUUID()}`);
  mkdirSync(staging);
  try {
    const verified = await verifyAndStage(options, staging, size);
    if (options.signal?.aborted) throw new CancelledError('The import');
    options.onProgress?.({ phase: 'importing', done: 0, total: verified.header.counts.passages });
    const result = merge(options, verified);
    options.onProgress?.({ phase: 'importing', done: verified.header.counts.passages, total: verified.header.counts.passages });
    return result;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

interface Verified {
  header: PackHeader;
  /** Staged documents chunks, in pack order. */
  chunks: string[];
  /** Staged adapter files by entry name, with their verified sha256 and size. */
  adapters: Map<string, { path: string; sha256: string; size: number }>;
  warnings: string[];
}

async function verifyAndStage(options: ImportPackOptions, staging: string, total: number): Promise<Verified> {
  const computed = new Map<string, { size: number; sha256: string }>();
  const chunks: string[] = [];
  const adapters = new Map<string, { path: string; sha256: string; size: number }>();
  const warnings: string[] = [];
  let header: PackHeader | null = null;
  let manifestJson: string | null = null;
  let read = 0;
  const source = createReadStream(options.inPath);
  source.on('data', (chunk) => {
    read += chunk.length;
    options.onProgress?.({ phase: 'verifying', done: read, total });
  });
  const extract = tar.extract();
  const feeding = pipeline(source, extract);
  feeding.catch(() => undefined); // its error surfaces in the loop below
  try {
    for await (const entry of extract) {
      if (options.signal?.aborted) throw new CancelledError('The import');
      const name = entry.header.name;
      const size = entry.header.size ?? 0;
      if (manifestJson !== null) throw invalid(`${name} follows ${MANIFEST_ENTRY}, which must be the last entry`);
      if (entry.header.type !== 'file') throw invalid(`${name} is not a plain file`);
      if (computed.has(name)) throw invalid(`${name} appears twice`);
      if (header === null && name !== HEADER_ENTRY) throw invalid(`its first entry is ${name}, not ${HEADER_ENTRY}`);
      const hash = createHash('sha256');
      if (name === HEADER_ENTRY || name === MANIFEST_ENTRY) {
        if (size > (name === HEADER_ENTRY ? MAX_HEADER_BYTES : MAX_MANIFEST_BYTES)) throw invalid(`${name} is too large`);
        const parts: Buffer[] = [];
        for await (const part of entry) parts.push(part as Buffer);
        const bytes = Buffer.concat(parts);
        if (name === MANIFEST_ENTRY) {
          manifestJson = bytes.toString('utf8');
          continue;
        }
        computed.set(name, { size: bytes.length, sha256: hash.update(bytes).digest('hex') });
        header = parsePackHeader(bytes.toString('utf8'));
        checkModel(header, options.model, warnings);
        continue;
      }
      const isChunk = DOCUMENTS_ENTRY.test(name);
      if (!isChunk && !ADAPTER_ENTRY.test(name)) throw invalid(`${name} is not an entry of a knowledge pack`);
      if (size > (isChunk ? MAX_CHUNK_BYTES : MAX_ADAPTER_BYTES)) throw invalid(`${name} is too large`);
      // Entry names never become paths: staged files are named by their position in the pack.
      const path = join(staging, `${computed.size}.${isChunk ? 'jsonl.gz' : 'gguf'}`);
      let written = 0;
      const tap = new Transform({ transform(part: Buffer, _encoding, done) { hash.update(part); written += part.length; done(null, part); } });
      await pipeline(entry, tap, createWriteStream(path));
      const sha256 = hash.digest('hex');
      computed.set(name, { size: written, sha256 });
      if (isChunk) chunks.push(path);
      else adapters.set(name, { path, sha256, size: written });
    }
    await feeding;
  } catch (error) {
    if (error instanceof PackError || error instanceof CancelledError) throw error;
    throw new PackError('pack-incomplete', `The knowledge pack cannot be read (${(error as Error).message}): it may have been cut short by an interrupted download or copy. Nothing was imported.`, { cause: error });
  } finally {
    source.destroy();
  }
  if (header === null) throw new PackError('not-a-pack', 'This file is not a ParamKB knowledge pack (it holds no pack.json).');
  if (manifestJson === null) {
    throw new PackError('pack-incomplete', `The knowledge pack is incomplete: it ends before its ${MANIFEST_ENTRY}, as when a download or copy is cut short. Nothing was imported.`);
  }
  const manifest = parsePackManifest(manifestJson);
  const listed = new Map(manifest.entries.map((e) => [e.name, e]));
  for (const [name, actual] of computed) {
    const expected = listed.get(name);
    if (!expected) throw damaged(`${name} is not listed in its manifest`);
    if (expected.size !== actual.size || expected.sha256 !== actual.sha256) throw damaged(`${name} does not match its checksum`);
  }
  for (const name of listed.keys()) if (!computed.has(name)) throw damaged(`${name} is listed in its manifest but missing`);
  return { header, chunks, adapters, warnings };
}

function checkModel(header: PackHeader, model: ImportPackOptions['model'], warnings: string[]): void {
  if (!header.model || header.counts.adapters === 0) return;
  const needed = describeModel(header.model);
  const where = header.model.source ? ` Get it from ${header.model.source}.` : '';
  if (!model) {
    throw new PackError('pack-needs-model', `This knowledge pack's adapters are for the model ${needed}. Open that model first (Models, or --model), then import the pack.${where}`);
  }
  if (model.fingerprint !== header.model.fingerprint) {
    throw new PackError('pack-wrong-model', `This knowledge pack's adapters are for the model ${needed}, not the open model. Open that model (Models, or --model) and import the pack again.${where}`);
  }
  if (header.promptProfile !== null && header.promptProfile !== model.promptProfile) {
    warnings.push('The pack\'s adapters were trained with another prompt profile than the open model\'s; answers may use them less well.');
  }
}

/** The merge step: one synchronous transaction over the staged, verified files. */
function merge(options: ImportPackOptions, verified: Verified): ImportPackResult {
  const { db, documents, adapters, jobs } = options;
  const { header } = verified;
  const baseModel = header.model && header.counts.adapters > 0 ? header.model.fingerprint : null;
  const vectors = options.vectors && header.vectors && header.vectors.model === options.vectors.model && header.vectors.dimensions === options.vectors.dimensions ? options.vectors : null;
  const result: ImportPackResult = {
    documentsAdded: 0, documentsPresent: 0, passagesAdded: 0, adaptersAdded: 0, augmentationsAdded: 0, vectorsAdded: 0,
    documentIds: [], model: header.model ? describeModel(header.model) : null, warnings: [...verified.warnings],
  };
  if (header.vectors && !vectors) result.warnings.push(`The pack's passage vectors (${header.vectors.model}) were not imported: this knowledge base has no vectors of that embedding.`);
  const moved: string[] = [];
  const usedAdapters = new Set<string>();
  try {
    db.transaction(() => {
      const known = documents.contentHashes();
      const withAdapters: number[] = [];
      verified.chunks.forEach((chunkPath, c) => {
        let text: string;
        try {
          text = gunzipSync(readFileSync(chunkPath), { maxOutputLength: MAX_CHUNK_TEXT_BYTES }).toString('utf8');
        } catch (error) {
          throw invalid(`documents chunk ${c + 1} cannot be decompressed (${(error as Error).message})`);
        }
        text.split('\n').forEach((line, l) => {
          if (!line.trim()) return;
          const doc = parsePackDocument(`documents chunk ${c + 1}, line ${l + 1}`, line, header);
          let documentId = known.get(doc.contentHash);
          if (documentId === undefined) {
            documentId = documents.save({
              sourceKey: `pack:${doc.contentHash}`, path: null, title: doc.title, format: doc.format, sizeBytes: doc.sizeBytes, contentHash: doc.contentHash,
              passages: doc.passages.map((p) => ({ position: p.position, text: p.text, wordCount: p.wordCount })),
            }).id;
            known.set(doc.contentHash, documentId);
            result.documentIds.push(documentId);
            result.documentsAdded++;
            result.passagesAdded += doc.passages.length;
          } else {
            result.documentsPresent++;
          }
          // Passages are matched by position and text, so a document split differently here keeps its own.
          const local = new Map(documents.passagesOfDocument(documentId).map((p) => [p.position, p]));
          for (const p of doc.passages) {
            const here = local.get(p.position);
            if (!here || here.text !== p.text) continue;
            if (p.augmentation && documents.storeAugmentationIfMissing(here.id, JSON.stringify(p.augmentation))) result.augmentationsAdded++;
            if (vectors && p.vector) { vectors.put(here.id, decodeVector(p.vector)); result.vectorsAdded++; }
            if (p.adapter && baseModel) {
              const staged = verified.adapters.get(p.adapter.entry);
              if (!staged) throw invalid(`${p.adapter.entry} is referenced but not in the pack`);
              if (usedAdapters.has(p.adapter.entry)) throw invalid(`${p.adapter.entry} is referenced twice`);
              usedAdapters.add(p.adapter.entry);
              if (!adapters.hasAdapter(here.id, baseModel)) {
                moved.push(adapters.adoptFile({
                  passageId: here.id, baseModel, stagedPath: staged.path, sha256: staged.sha256, sizeBytes: staged.size,
                  rank: p.adapter.rank, alpha: p.adapter.alpha, trainLoss: p.adapter.trainLoss, config: p.adapter.config,
                }));
                result.adaptersAdded++;
                withAdapters.push(here.id);
              }
            }
          }
        });
      });
      // Passages that got an adapter here need no encoding: their queued jobs are dropped.
      jobs.cancel(withAdapters);
    })();
  } catch (error) {
    for (const path of moved) rmSync(path, { force: true });
    throw error;
  }
  return result;
}

/** Staging folders of imports whose process is gone (killed mid-import). */
function removeStaleStaging(dataDir: string): void {
  let names: string[];
  try { names = readdirSync(dataDir); } catch { return; }
  for (const name of names) {
    const pid = Number(/^pack-import-(\d+)-/.exec(name)?.[1]);
    if (!pid || processAlive(pid)) continue;
    rmSync(join(dataDir, name), { recursive: true, force: true });
  }
}

function invalid(what: string): PackError {
  return new PackError('pack-invalid', `The knowledge pack is invalid: ${what}. Nothing was imported.`);
}

function damaged(what: string): PackError {
  return new PackError('pack-damaged', `The knowledge pack is damaged: ${what}. Nothing was imported; get a new copy of the pack.`);
}
