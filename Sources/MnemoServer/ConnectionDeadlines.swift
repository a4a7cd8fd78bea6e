import Hummingbird
import NIOCore
import NIOHTTPTypes

/// How long a connection may take to send a request, and how many may be open at once.
public struct ConnectionLimits: Sendable, Equatable {
    /// A new connection's first request head must arrive within this.
    public var headerTimeout: Duration = .seconds(10)
    /// A request's body must arrive within this of its head (a slow drip is closed, not waited on).
    public var bodyTimeout: Duration = .seconds(30)
    /// A kept-alive connection with no request in progress is closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// Connections open at once; beyond it new ones wait in the listen backlog.
    public var maxConnections = 512

    public init() {}

    func validate() throws {
        for (name, d) in [("header timeout", headerTimeout), ("body timeout", bodyTimeout), ("idle timeout", idleTimeout)] {
            guard d > .zero else { throw ServerSettingsError("the \(name) must be positive") }
        }
        guard maxConnections > 0 else { throw ServerSettingsError("the connection limit must be positive") }
    }
}

/// Closes a connection whose first request head, or whose request body, does not arrive in time, and
/// ends the connection after a 413 (its unread body would otherwise hold the client's writes).
/// Sits between the HTTP/1 codec and Hummingbird's handler, so it sees whole request parts. Idle
/// keep-alive connections are Hummingbird's own idle timeout.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var deadline: Scheduled<Void>?
    private var closeAfterResponse = false

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, limits.headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, limits.headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, limits.bodyTimeout)
        case .body: break
        case .end: disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .contentTooLarge:
            closeAfterResponse = true
            context.write(data, promise: promise)
        case .end where closeAfterResponse:
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            // A lingering close: the client reads the 413 and our FIN while the rest of its body is
            // discarded; the connection goes at the latest two seconds later (an abrupt close would reset
            // it while the client still writes, losing the response).
            written.futureResult.whenComplete { _ in
                context.close(mode: .output, promise: nil)
                self.arm(context, .seconds(2))
            }
        default:
            context.write(data, promise: promise)
        }
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: Duration) {
        disarm()
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(nanoseconds)) {
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
