import MnemoStore

/// One search result as every edge returns it (`mnemo query --json`, HTTP search, MCP memory_search):
/// one type, one wire encoding.
public struct MemoryHit: Sendable, Codable, Equatable {
    public var rank: Int
    public var score: Float
    public var chunkID: Int64
    public var source: String
    public var namespace: String
    public var startByte: Int
    public var endByte: Int
    public var text: String
    public var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case rank, score, source, namespace, text, metadata
        case chunkID = "chunk_id", startByte = "start_byte", endByte = "end_byte"
    }

    public init(_ hit: QueryHit) {
        rank = hit.rank
        score = hit.score
        chunkID = hit.chunk.id
        source = hit.chunk.source
        namespace = hit.chunk.namespace
        startByte = hit.chunk.startByte
        endByte = hit.chunk.endByte
        text = hit.chunk.text
        metadata = hit.chunk.metadata
    }
}
