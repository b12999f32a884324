// The knowledge pack format (DESIGN §7): one tar archive, written and read as a stream, so a pack
// of any size is never held in memory.
//
//   pack.json                      header: format, version, the base model (fingerprint, name,
//                                  size, where to get it), prompt profile, counts, vectors
//   documents/000001.jsonl.gz      documents with their passages, augmentations and adapter
//   adapters/000001.gguf ...       references; each chunk is followed by its adapters
//   documents/000002.jsonl.gz ...
//   manifest.json                  last: the version again and the sha256 and size of every
//                                  other entry
//
// pack.json comes first, so an importer refuses a newer format or the wrong model before it
// reads the rest; manifest.json comes last, as a writer knows the checksums only at the end.
// Vectors (embeddings of passages) are optional: pack.json says which embedding made them
// and a passage carries its vector (little-endian float32, base64); readers without a vector
// table ignore them.
import { ParamKbError } from '../../shared/errors.js';
import { validateAugmentation, type Augmentation } from '../encoding/augmentation.js';
import { FieldChecks } from '../fieldChecks.js';
import type { ModelIdentity } from '../llm/modelIdentity.js';

export const PACK_FORMAT = 'paramkb-pack';
/** The layout version this build writes and the newest it reads. */
export const PACK_VERSION = 1;

export const HEADER_ENTRY = 'pack.json';
export const MANIFEST_ENTRY = 'manifest.json';
export const DOCUMENTS_ENTRY = /^documents\/(\d{6})\.jsonl\.gz$/;
export const ADAPTER_ENTRY = /^adapters\/(\d{6})\.gguf$/;

/** A documents chunk is closed once it holds this many passages (bounding memory on both sides). */
export const PASSAGES_PER_CHUNK = 1000;
/** Limits that keep a damaged or hostile pack from exhausting memory or disk. */
export const MAX_HEADER_BYTES = 1024 * 1024;
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
export const MAX_CHUNK_BYTES = 256 * 1024 * 1024;
export const MAX_CHUNK_TEXT_BYTES = 512 * 1024 * 1024;
export const MAX_ADAPTER_BYTES = 256 * 1024 * 1024;

export interface PackHeader {
  format: typeof PACK_FORMAT;
  version: number;
  createdAt: string;
  /** The base model of the adapters; null when the pack has none. */
  model: ModelIdentity | null;
  /** promptProfileFingerprint of the profile the adapters were trained with (null without adapters). */
  promptProfile: string | null;
  counts: { documents: number; passages: number; adapters: number };
  /** The embedding that made the passages' vectors, or null when the pack has none. */
  vectors: { model: string; dimensions: number } | null;
}

export interface PackManifest {
  format: typeof PACK_FORMAT;
  version: number;
  entries: { name: string; size: number; sha256: string }[];
}

export interface PackAdapterRef {
  /** The adapters/NNNNNN.gguf entry. */
  entry: string;
  rank: number;
  alpha: number;
  trainLoss: number | null;
  /** The training options recorded with the adapter. */
  config: unknown;
}

export interface PackPassage {
  position: number;
  text: string;
  wordCount: number;
  augmentation: Augmentation | null;
  adapter: PackAdapterRef | null;
  /** Little-endian float32, base64; only when the header names vectors. */
  vector?: string;
}

/** One line of a documents chunk. */
export interface PackDocument {
  title: string;
  format: string;
  sizeBytes: number;
  /** sha256 of the source file: documents already in a knowledge base are recognized by it. */
  contentHash: string;
  passages: PackPassage[];
}

export class PackError extends ParamKbError {
  override name = 'PackError';
}

const check: FieldChecks = new FieldChecks((path, what) => new PackError('pack-invalid', `The knowledge pack is invalid: ${path} ${what}. Nothing was imported.`));

/** Checks the header; a newer version is refused with its own message, before any other field. */
export function parsePackHeader(json: string): PackHeader {
  const value = parseJson(HEADER_ENTRY, json);
  // Format and version first: a newer pack may have fields this version does not know.
  const head = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (head.format !== PACK_FORMAT) throw new PackError('not-a-pack', 'This file is not a ParamKB knowledge pack.');
  const version = check.integer(`${HEADER_ENTRY}.version`, head.version, 1, Number.MAX_SAFE_INTEGER);
  if (version > PACK_VERSION) {
    throw new PackError('pack-too-new', `This knowledge pack was made by a newer ParamKB (pack format ${version}; this version reads up to ${PACK_VERSION}). Update ParamKB to import it.`);
  }
  const o = check.record(HEADER_ENTRY, value, ['format', 'version', 'createdAt', 'model', 'promptProfile', 'counts', 'vectors']);
  const counts = check.record(`${HEADER_ENTRY}.counts`, o.counts, ['documents', 'passages', 'adapters']);
  let model: ModelIdentity | null = null;
  if (o.model !== null) {
    const m = check.record(`${HEADER_ENTRY}.model`, o.model, ['fingerprint', 'name', 'fileName', 'sizeBytes', 'source']);
    model = {
      fingerprint: check.hex(`${HEADER_ENTRY}.model.fingerprint`, m.fingerprint, 32),
      name: check.text(`${HEADER_ENTRY}.model.name`, m.name, 300, 1),
      fileName: check.text(`${HEADER_ENTRY}.model.fileName`, m.fileName, 300, 1),
      sizeBytes: check.integer(`${HEADER_ENTRY}.model.sizeBytes`, m.sizeBytes, 1, Number.MAX_SAFE_INTEGER),
      source: m.source === null ? null : check.text(`${HEADER_ENTRY}.model.source`, m.source, 2000, 1),
    };
  }
  let vectors: PackHeader['vectors'] = null;
  if (o.vectors !== null) {
    const v = check.record(`${HEADER_ENTRY}.vectors`, o.vectors, ['model', 'dimensions']);
    vectors = { model: check.text(`${HEADER_ENTRY}.vectors.model`, v.model, 300, 1), dimensions: check.integer(`${HEADER_ENTRY}.vectors.dimensions`, v.dimensions, 1, 65536) };
  }
  const adapters = check.integer(`${HEADER_ENTRY}.counts.adapters`, counts.adapters, 0, Number.MAX_SAFE_INTEGER);
  if (adapters > 0 && model === null) check.fail(`${HEADER_ENTRY}.model`, 'is missing, but the pack has adapters');
  return {
    format: PACK_FORMAT,
    version,
    createdAt: check.text(`${HEADER_ENTRY}.createdAt`, o.createdAt, 100),
    model,
    promptProfile: o.promptProfile === null ? null : check.hex(`${HEADER_ENTRY}.promptProfile`, o.promptProfile, 32),
    counts: {
      documents: check.integer(`${HEADER_ENTRY}.counts.documents`, counts.documents, 0, Number.MAX_SAFE_INTEGER),
      passages: check.integer(`${HEADER_ENTRY}.counts.passages`, counts.passages, 0, Number.MAX_SAFE_INTEGER),
      adapters,
    },
    vectors,
  };
}

export function parsePackManifest(json: string): PackManifest {
  const o = check.record(MANIFEST_ENTRY, parseJson(MANIFEST_ENTRY, json), ['format', 'version', 'entries']);
  if (o.format !== PACK_FORMAT) check.fail(`${MANIFEST_ENTRY}.format`, `must be ${PACK_FORMAT}`);
  const version = check.integer(`${MANIFEST_ENTRY}.version`, o.version, 1, PACK_VERSION);
  const entries = check.list(`${MANIFEST_ENTRY}.entries`, o.entries, 100_000_000, (p, v) => {
    const e = check.record(p, v, ['name', 'size', 'sha256']);
    return { name: check.text(`${p}.name`, e.name, 200, 1), size: check.integer(`${p}.size`, e.size, 0, Number.MAX_SAFE_INTEGER), sha256: check.hex(`${p}.sha256`, e.sha256, 64) };
  });
  return { format: PACK_FORMAT, version, entries };
}

/** Checks one line of a documents chunk. */
export function parsePackDocument(where: string, json: string, header: PackHeader): PackDocument {
  const o = check.record(where, parseJson(where, json), ['title', 'format', 'sizeBytes', 'contentHash', 'passages']);
  const positions = new Set<number>();
  const passages = check.list(`${where}.passages`, o.passages, 10_000_000, (p, v): PackPassage => {
    const passage = check.record(p, v, ['position', 'text', 'wordCount', 'augmentation', 'adapter'], ['vector']);
    const position = check.integer(`${p}.position`, passage.position, 0, Number.MAX_SAFE_INTEGER);
    if (positions.has(position)) check.fail(`${p}.position`, 'repeats another passage\'s');
    positions.add(position);
    let adapter: PackAdapterRef | null = null;
    if (passage.adapter !== null) {
      if (!header.model) check.fail(`${p}.adapter`, 'is given, but the pack names no model');
      const a = check.record(`${p}.adapter`, passage.adapter, ['entry', 'rank', 'alpha', 'trainLoss', 'config']);
      const entry = check.text(`${p}.adapter.entry`, a.entry, 100, 1);
      if (!ADAPTER_ENTRY.test(entry)) check.fail(`${p}.adapter.entry`, 'is not an adapters/NNNNNN.gguf entry');
      adapter = {
        entry,
        rank: check.integer(`${p}.adapter.rank`, a.rank, 1, 4096),
        alpha: check.number(`${p}.adapter.alpha`, a.alpha, 0, 1e6),
        trainLoss: a.trainLoss === null ? null : check.number(`${p}.adapter.trainLoss`, a.trainLoss, 0, 1e6),
        config: a.config,
      };
    }
    const out: PackPassage = {
      position,
      text: check.text(`${p}.text`, passage.text, 1_000_000, 1),
      wordCount: check.integer(`${p}.wordCount`, passage.wordCount, 0, 1_000_000),
      augmentation: passage.augmentation === null ? null : validateAugmentation(check, `${p}.augmentation`, passage.augmentation),
      adapter,
    };
    if (passage.vector !== undefined) {
      if (!header.vectors) check.fail(`${p}.vector`, 'is given, but pack.json names no vectors');
      const vector = check.text(`${p}.vector`, passage.vector, Math.ceil((header.vectors.dimensions * 4) / 3) * 4);
      if (Buffer.from(vector, 'base64').length !== header.vectors.dimensions * 4) check.fail(`${p}.vector`, `must hold ${header.vectors.dimensions} float32 values`);
      out.vector = vector;
    }
    return out;
  });
  return {
    title: check.text(`${where}.title`, o.title, 2000, 1),
    format: check.text(`${where}.format`, o.format, 32, 1),
    sizeBytes: check.integer(`${where}.sizeBytes`, o.sizeBytes, 0, Number.MAX_SAFE_INTEGER),
    contentHash: check.hex(`${where}.contentHash`, o.contentHash, 64),
    passages,
  };
}

function parseJson(where: string, json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new PackError('pack-invalid', `The knowledge pack is invalid: ${where} is not valid JSON (${(error as Error).message}). Nothing was imported.`);
  }
}

/** A float32 vector as a pack stores it, and back. */
export function encodeVector(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

export function decodeVector(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/**
 * Embedding vectors of passages, for knowledge bases that have them (a sqlite-vec table). Packs
 * carry them when the exporting knowledge base has a store and import them when the importing
 * one has a store for the same embedding model.
 */
export interface PassageVectors {
  readonly model: string;
  readonly dimensions: number;
  get(passageId: number): Float32Array | null;
  /** Called inside the import's transaction. */
  put(passageId: number, vector: Float32Array): void;
}
