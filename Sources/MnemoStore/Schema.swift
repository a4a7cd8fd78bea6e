/// The store's SQLite schema, as append-only migrations (see `Migrator`).
///
/// SQLite is the source of truth: text, offsets, metadata and the embeddings themselves (float32
/// little-endian blobs). The FAISS file is derived from it and can always be rebuilt. Chunk ids use
/// AUTOINCREMENT so an id is never reused: a stale FAISS entry can never point at a different chunk.
enum Schema {
    static let migrations = [
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            namespace TEXT NOT NULL,
            source TEXT NOT NULL,
            format TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            UNIQUE (namespace, source)
        );
        CREATE INDEX documents_by_hash ON documents (namespace, content_hash);

        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            namespace TEXT NOT NULL,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            start_byte INTEGER NOT NULL,
            end_byte INTEGER NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX chunks_by_document ON chunks (document_id);
        CREATE INDEX chunks_by_hash ON chunks (content_hash);

        -- Every change to chunks bumps this counter; the FAISS file records the value it reflects.
        CREATE TABLE store_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO store_state VALUES ('changes', 0);

        CREATE VIRTUAL TABLE chunks_fts USING fts5 (
            text, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
            UPDATE store_state SET value = value + 1 WHERE key = 'changes';
        END;
        CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
            UPDATE store_state SET value = value + 1 WHERE key = 'changes';
        END;
        """,
        // 2: one vector per sentence of every chunk (context mode `sentences`). Offsets are UTF-8 bytes
        // into the chunk's text; identical sentence text is embedded once (looked up by content hash).
        // Chunks stored before this migration have no rows until `mnemo index` fills them in.
        """
        CREATE TABLE sentences (
            chunk_id INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            start_byte INTEGER NOT NULL,
            end_byte INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (chunk_id, ordinal)
        );
        CREATE INDEX sentences_by_hash ON sentences (content_hash);
        """,
    ]
}
