/// The shared record's schema in PostgreSQL, as append-only migrations applied once under an advisory
/// lock (docs/SHARED-STORE.md describes every table).
///
/// Tables are prefixed `mnemo_` so the record can live in a database with others. Vectors are the same
/// float32 little-endian bytes the embedded store keeps. `mnemo_log_head` is one row whose update opens
/// every writing transaction: it serialises writers, so sequence numbers are gap-free, in commit order,
/// and chunk ids grow with them (a replica's readers pick up new vectors by id).
enum PostgresSchema {
    /// pg_advisory_lock key for migrations ("mnemo" in ASCII).
    static let migrationLock: Int64 = 0x6d6e_656d_6f

    static let migrations = [
        """
        CREATE TABLE mnemo_manifest (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            encoder text NOT NULL,
            dimension integer NOT NULL,
            -- A random id: a replica made from another database (or this one dropped and made again) is rebuilt.
            store_id bigint NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE mnemo_documents (
            id bigserial PRIMARY KEY,
            namespace text NOT NULL,
            source text NOT NULL,
            format text NOT NULL,
            content_hash text NOT NULL,
            bytes bigint NOT NULL,
            metadata text NOT NULL DEFAULT '{}',
            indexed_at text NOT NULL,
            UNIQUE (namespace, source)
        );
        CREATE INDEX mnemo_documents_by_hash ON mnemo_documents (namespace, content_hash);
        CREATE TABLE mnemo_chunks (
            id bigserial PRIMARY KEY,
            document_id bigint NOT NULL REFERENCES mnemo_documents (id) ON DELETE CASCADE,
            namespace text NOT NULL,
            ordinal integer NOT NULL,
            text text NOT NULL,
            start_byte integer NOT NULL,
            end_byte integer NOT NULL,
            metadata text NOT NULL DEFAULT '{}',
            content_hash text NOT NULL,
            embedding bytea NOT NULL
        );
        CREATE INDEX mnemo_chunks_by_document ON mnemo_chunks (document_id);
        CREATE INDEX mnemo_chunks_by_hash ON mnemo_chunks (content_hash);
        CREATE TABLE mnemo_sentences (
            chunk_id bigint NOT NULL REFERENCES mnemo_chunks (id) ON DELETE CASCADE,
            ordinal integer NOT NULL,
            start_byte integer NOT NULL,
            end_byte integer NOT NULL,
            content_hash text NOT NULL,
            embedding bytea NOT NULL,
            PRIMARY KEY (chunk_id, ordinal)
        );
        CREATE INDEX mnemo_sentences_by_hash ON mnemo_sentences (content_hash);
        CREATE TABLE mnemo_log_head (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            seq bigint NOT NULL
        );
        INSERT INTO mnemo_log_head (seq) VALUES (0);
        -- One row per written source per transaction: replicas re-read that source's state.
        CREATE TABLE mnemo_log (
            seq bigint NOT NULL,
            namespace text NOT NULL,
            source text NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (seq, namespace, source)
        );
        """,
    ]
}
