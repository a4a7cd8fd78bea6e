import Foundation
import Hummingbird
import MnemoErrors
import MnemoModels
import MnemoStore
import MnemoTools

/// An error as the OpenAI API shapes it: `{"error": {"message", "type", "param", "code"}}` with an HTTP
/// status. Every failure the server reports leaves through this type, so clients written for OpenAI
/// read Mnemo's errors the same way.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before trying again (sent as Retry-After).
    public var retryAfter: Int?
    /// What the server logs beside `message` (never sent): the underlying error of a 500.
    public var detail: String?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String? = nil, param: String? = nil, code: String? = nil,
                retryAfter: Int? = nil, detail: String? = nil) {
        self.detail = detail
        self.status = status
        self.message = message
        self.type = type ?? (status.code >= 500 ? "server_error" : "invalid_request_error")
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(code ?? type): \(message)" }

    // MARK: The errors the server uses

    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(.badRequest, "The request body is not valid JSON for this endpoint: \(detail)", code: "invalid_json")
    }

    public static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, message, param: param, code: "invalid_value")
    }

    public static func missing(_ param: String) -> APIError {
        APIError(.badRequest, "Missing required parameter: '\(param)'.", param: param, code: "missing_required_parameter")
    }

    public static let unauthorized = APIError(
        .unauthorized, "Missing or incorrect API key: send it as 'Authorization: Bearer TOKEN'.", code: "invalid_api_key")

    public static func tooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "The request body exceeds the server's limit of \(limit) bytes.", code: "request_too_large")
    }

    public static func notFound(_ what: String, code: String = "not_found") -> APIError {
        APIError(.notFound, what, code: code)
    }

    public static func busy(_ message: String) -> APIError {
        APIError(.serviceUnavailable, message, code: "server_busy", retryAfter: 1)
    }

    /// Maps any error to the API's shape: APIError as is; Hummingbird's HTTP errors by status; the
    /// project's bad-input errors to 422; a missing chat model to 503 with its message; anything else to
    /// 500 whose details go to the log only.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as HTTPError:
            switch e.status {
            case .notFound: return .notFound(e.body ?? "No such route.", code: "unknown_route")
            case .contentTooLarge: return APIError(.contentTooLarge, e.body ?? "The request body is too large.", code: "request_too_large")
            default: return APIError(e.status, e.body ?? e.status.reasonPhrase)
            }
        case let e as MnemoError:
            return from(e)
        case let e as DecodingError:
            return .decoding(e)
        default:
            // The details (SQLite's or a parser's words) go to the log, not to the client.
            return APIError(.internalServerError, "Internal error: the request could not be completed; the server's log has the details.",
                            code: "internal_error", detail: "\(error)")
        }
    }

    /// Mnemo's own errors, by code (and, for the rest, by the layer that raised them).
    static func from(_ e: MnemoError) -> APIError {
        switch e.code {
        case .badInput:
            return APIError(.unprocessableContent, e.message, code: "invalid_value")
        case .fileNotFound, .unreadable:
            // The server's chat model is not installed: the service, not the request, is at fault.
            return APIError(.serviceUnavailable, e.message, code: "model_unavailable")
        case .notFound:
            return APIError(.notFound, e.message, code: "not_found")
        case .locked:
            // Another mnemo process (an index run) holds the store's write lock.
            return APIError(.serviceUnavailable, e.message, code: "store_locked", retryAfter: 5)
        case .unavailable:
            // The shared store's PostgreSQL is away: writes wait for it; searches still read the replica.
            return APIError(.serviceUnavailable, e.message, code: "store_unavailable", retryAfter: 5)
        case .behind:
            // This node's replica has not reached the `min_seq` the request asked for.
            return APIError(.serviceUnavailable, e.message, code: "replica_behind", retryAfter: 1)
        default:
            switch e.module {
            case "MnemoTools":
                return APIError(.unprocessableContent, e.message, code: "tool_\(e.code.name)")
            case "MnemoModels":
                // Our own words about the server's model file (they name the file and tensor, nothing internal).
                return APIError(.internalServerError, e.message, code: "model_error")
            default:
                return APIError(.internalServerError, "Internal error: the request could not be completed; the server's log has the details.",
                                code: "internal_error", detail: "\(e)")
            }
        }
    }

    /// A DecodingError as a 400 naming the parameter at fault.
    static func decoding(_ error: DecodingError) -> APIError {
        func path(_ keys: [any CodingKey]) -> String? {
            let parts = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return parts.isEmpty ? nil : parts.reduce("") { $1.hasPrefix("[") || $0.isEmpty ? $0 + $1 : $0 + "." + $1 }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .missing(path(context.codingPath + [key]) ?? key.stringValue)
        case .typeMismatch(let type, let context):
            let param = path(context.codingPath)
            return APIError(.badRequest, "Invalid type for '\(param ?? "body")': expected \(Self.typeName(type)).",
                            param: param, code: "invalid_type")
        case .valueNotFound(let type, let context):
            let param = path(context.codingPath)
            return APIError(.badRequest, "Invalid value for '\(param ?? "body")': expected \(Self.typeName(type)), got null.",
                            param: param, code: "invalid_type")
        case .dataCorrupted(let context):
            guard let param = path(context.codingPath) else {
                return .malformedJSON(context.underlyingError.map { "\($0)" } ?? context.debugDescription)
            }
            return APIError(.badRequest, "Invalid value for '\(param)': \(context.debugDescription)", param: param, code: "invalid_value")
        @unknown default:
            return .malformedJSON("\(error)")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)".hasPrefix("Array") ? "an array" : "an object"
        }
    }

    // MARK: The wire shape

    struct Body: Encodable {
        struct Detail: Encodable {
            let message: String
            let type: String
            let param: String?
            let code: String?

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message)
                try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param)  // null, not absent, as OpenAI sends it
                try c.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        let error: Detail
    }

    public var jsonBody: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Body(error: .init(message: message, type: type, param: param, code: code)))) ?? Data()
    }

    public var response: Response {
        let data = jsonBody
        var headers: HTTPFields = [.contentType: "application/json", .contentLength: String(data.count)]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
