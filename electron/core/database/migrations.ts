// Versioned schema. Each entry runs once, in order, inside a transaction; PRAGMA user_version
// records how many have run. Never edit a released migration: add a new one.
export const MIGRATIONS: readonly string[] = [
  // 1: documents, passages (+ FTS5), adapters, jobs, chats, messages with their sources.
  `
  CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    source_key TEXT NOT NULL UNIQUE,      -- absolute path, or 'upload:<name>' / 'jsonl:<id>'
    path TEXT,                            -- absolute path when imported from disk
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    word_count INTEGER NOT NULL,
    augmentation TEXT,                    -- JSON: rewrite + QA pairs, kept so re-encoding reuses it
    UNIQUE (document_id, position)
  );
  CREATE VIRTUAL TABLE passages_fts USING fts5(title, text, tokenize = 'unicode61 remove_diacritics 2');
  CREATE TABLE adapters (
    id INTEGER PRIMARY KEY,
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    base_model TEXT NOT NULL,             -- fingerprint of the base GGUF the adapter was trained on
    file TEXT NOT NULL,                   -- relative to the data directory
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    alpha REAL NOT NULL,
    train_loss REAL,
    config TEXT NOT NULL,                 -- JSON of the training options
    created_at TEXT NOT NULL,
    UNIQUE (passage_id, base_model)
  );
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                   -- 'encode'
    passage_id INTEGER REFERENCES passages(id) ON DELETE CASCADE,
    base_model TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    step TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
  );
  CREATE INDEX jobs_by_state ON jobs (state, priority DESC, id);
  CREATE UNIQUE INDEX jobs_one_open_per_passage ON jobs (passage_id, base_model, kind) WHERE state IN ('queued', 'running');
  CREATE TABLE chats (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL,
    mode TEXT,
    error TEXT,
    created_at TEXT NOT NULL
  );
  -- A snapshot of each source, so a chat still shows its sources after a document is deleted.
  CREATE TABLE message_sources (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    passage_id INTEGER NOT NULL,
    document_id INTEGER NOT NULL,
    document_title TEXT NOT NULL,
    text TEXT NOT NULL,
    score REAL NOT NULL,
    used_as TEXT NOT NULL CHECK (used_as IN ('adapter', 'context', 'both')),
    PRIMARY KEY (message_id, rank)
  );
  CREATE TABLE import_failures (
    id INTEGER PRIMARY KEY,
    source_key TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: per-term document counts of the passage index, so retrieval can skip terms too common
  // to rank by (their BM25 weight is zero) instead of scanning their long posting lists.
  `
  CREATE VIRTUAL TABLE passages_vocab USING fts5vocab(passages_fts, 'row');
  `,
  // 3: combine's two answers (JSON CombineCandidates) beside the one it kept.
  `
  ALTER TABLE messages ADD COLUMN candidates TEXT;
  `,
  // 4: passage embeddings. One row per embedding model (by fingerprint) and one vector per passage
  // and model; VectorStore adds a vec0 index per model (its dimension is the model's), kept in
  // step with passage_vectors by triggers, and deletes go with their passage by cascade.
  `
  CREATE TABLE embedding_models (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE passage_vectors (
    model_id INTEGER NOT NULL REFERENCES embedding_models(id) ON DELETE CASCADE,
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,                 -- float32, unit length
    PRIMARY KEY (model_id, passage_id)
  ) WITHOUT ROWID;
  CREATE INDEX passage_vectors_by_passage ON passage_vectors (passage_id);
  `,
  // 5: the encoding seconds each finished job cost (its share of batched augmentation plus its
  // training), for the rate and time estimates; the pause flag becomes the encoding policy.
  `
  ALTER TABLE jobs ADD COLUMN seconds REAL;
  INSERT OR IGNORE INTO settings (key, value) SELECT 'ui.encodingPolicy', '"paused"' FROM settings WHERE key = 'app.encodingPaused' AND value = 'true';
  DELETE FROM settings WHERE key = 'app.encodingPaused';
  `,
];
