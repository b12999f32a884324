// Passage embeddings: the only code that writes embedding_models, passage_vectors and their vec0
// indexes. passage_vectors holds each passage's unit-length float32 vector per embedding model
// (deleted with the passage by cascade); each model has a sqlite-vec vec0 index of the vectors'
// signs (bit[dimensions]), kept in step by triggers. A search takes the nearest candidates by
// Hamming distance from the index and ranks them by exact cosine similarity: scanning 100k
// float vectors costs several times the query budget, scanning their bits does not
// (bench/retrieval.ts).
import { nowIso, type Db } from '../database/database.js';

export interface EmbeddingModelRecord {
  id: number;
  fingerprint: string;
  name: string;
  dimensions: number;
}

export interface PendingPassage {
  id: number;
  title: string;
  text: string;
}

export interface VectorHit {
  passageId: number;
  /** Cosine similarity to the query, in [-1, 1]. */
  similarity: number;
}

/** Candidates taken from the bit index per search, at least; more when k is larger. */
const MIN_CANDIDATES = 64;

export class VectorStore {
  constructor(private readonly db: Db) {}

  private indexName(modelId: number): string {
    return `passage_vectors_index_${modelId}`;
  }

  /** The row of an embedding model, made on first use together with its vec0 index and triggers. */
  register(fingerprint: string, name: string, dimensions: number): EmbeddingModelRecord {
    if (!Number.isInteger(dimensions) || dimensions <= 0 || dimensions % 8 !== 0 || dimensions > 8192) {
      throw new RangeError(`An embedding model must give vectors of 8 to 8192 dimensions, a multiple of 8; this one gives ${dimensions}.`);
    }
    return this.db.transaction(() => {
      const existing = this.model(fingerprint);
      if (existing) return existing;
      const id = Number(this.db.prepare('INSERT INTO embedding_models (fingerprint, name, dimensions, created_at) VALUES (?, ?, ?, ?)')
        .run(fingerprint, name, dimensions, nowIso()).lastInsertRowid);
      const index = this.indexName(id);
      this.db.exec(`
        CREATE VIRTUAL TABLE ${index} USING vec0(passage_id INTEGER PRIMARY KEY, embedding bit[${dimensions}]);
        CREATE TRIGGER ${index}_insert AFTER INSERT ON passage_vectors WHEN new.model_id = ${id} BEGIN
          INSERT INTO ${index} (passage_id, embedding) VALUES (new.passage_id, vec_quantize_binary(new.vector));
        END;
        CREATE TRIGGER ${index}_delete AFTER DELETE ON passage_vectors WHEN old.model_id = ${id} BEGIN
          DELETE FROM ${index} WHERE passage_id = old.passage_id;
        END;`);
      return { id, fingerprint, name, dimensions };
    })();
  }

  model(fingerprint: string): EmbeddingModelRecord | null {
    return (this.db.prepare('SELECT id, fingerprint, name, dimensions FROM embedding_models WHERE fingerprint = ?').get(fingerprint) as EmbeddingModelRecord | undefined) ?? null;
  }

  /** Passages that have no vector of this model yet, oldest first. */
  pending(modelId: number, limit: number): PendingPassage[] {
    return this.db.prepare(`
      SELECT p.id, d.title, p.text FROM passages p JOIN documents d ON d.id = p.document_id
      WHERE NOT EXISTS (SELECT 1 FROM passage_vectors v WHERE v.model_id = ? AND v.passage_id = p.id)
      ORDER BY p.id LIMIT ?`).all(modelId, limit) as PendingPassage[];
  }

  /**
   * Stores a passage's vector (made unit length here). Returns false when the passage was deleted
   * meanwhile: nothing is stored then.
   */
  add(model: EmbeddingModelRecord, passageId: number, vector: Float32Array): boolean {
    const unit = normalized(vector, model);
    const modelId = model.id;
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM passage_vectors WHERE model_id = ? AND passage_id = ?').run(modelId, passageId);
      return this.db.prepare('INSERT INTO passage_vectors (model_id, passage_id, vector) SELECT ?, id, ? FROM passages WHERE id = ?')
        .run(modelId, Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength), passageId).changes === 1;
    })();
  }

  /** The k passages nearest to `query`, most similar first. */
  search(model: EmbeddingModelRecord, query: Float32Array, k: number): VectorHit[] {
    if (k <= 0) return [];
    const unit = normalized(query, model);
    const modelId = model.id;
    const blob = Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength);
    const rows = this.db.prepare(`
      WITH candidates AS (SELECT passage_id FROM ${this.indexName(modelId)} WHERE embedding MATCH vec_quantize_binary(?) AND k = ?)
      SELECT v.passage_id, 1 - vec_distance_cosine(v.vector, ?) AS similarity
      FROM candidates c JOIN passage_vectors v ON v.model_id = ? AND v.passage_id = c.passage_id
      ORDER BY similarity DESC, v.passage_id LIMIT ?`).all(blob, Math.max(MIN_CANDIDATES, 8 * k), blob, modelId, k) as { passage_id: number; similarity: number }[];
    return rows.map((r) => ({ passageId: r.passage_id, similarity: r.similarity }));
  }

  /** Passages with a vector of this model, and all passages. */
  progress(modelId: number | null): { embedded: number; total: number } {
    return this.db.prepare('SELECT (SELECT COUNT(*) FROM passage_vectors WHERE model_id = ?) AS embedded, (SELECT COUNT(*) FROM passages) AS total')
      .get(modelId ?? -1) as { embedded: number; total: number };
  }
}

function normalized(vector: Float32Array, model: EmbeddingModelRecord): Float32Array {
  if (vector.length !== model.dimensions) throw new RangeError(`${model.name} gives vectors of ${model.dimensions} dimensions, not ${vector.length}.`);
  let norm = 0;
  for (const x of vector) norm += x * x;
  norm = Math.sqrt(norm);
  if (!Number.isFinite(norm) || norm === 0) throw new RangeError('An embedding vector must be finite and not all zeros.');
  return vector.map((x) => x / norm);
}
