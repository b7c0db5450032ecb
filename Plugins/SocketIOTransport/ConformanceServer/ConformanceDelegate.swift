import SocketIOProtocol
import SocketIOServer

/// The behaviour the official socket.io-protocol test suite expects of its reference server: every connection
/// (on `/` and `/custom`) is greeted with an `auth` event carrying the handshake auth payload, `message` is
/// echoed as `message-back` (binary included) and `message-with-ack` is acknowledged with its own arguments.
///
/// For the interop tests it also understands a few events the official suites never send: `join` / `leave`
/// (a room name), `publish` (`{room, event, payload, key?}`, acked with the member count) and `disconnect-me`.
struct ConformanceDelegate: SocketIOServerDelegate {
    func server(_ server: SocketIOServer, clientConnected client: ConnectedClient) {
        try? server.send(to: client.id, event: "auth", arguments: [client.auth])
    }

    func server(_ server: SocketIOServer, clientDisconnected clientID: UInt64, reason: String) {}

    func server(
        _ server: SocketIOServer, client clientID: UInt64, emitted event: String, arguments: EventArguments,
        ackToken: UInt64?
    ) {
        switch event {
        case "message":
            try? server.send(
                to: clientID, event: "message-back", arguments: arguments.values, attachments: arguments.attachments
            )
        case "message-with-ack":
            if let ackToken {
                try? server.ack(ackToken, arguments: arguments.values, attachments: arguments.attachments)
            }
        case "join", "leave":
            guard let room = arguments.values.first?.stringValue else { return }
            try? event == "join" ? server.join(clientID, room: room) : server.leave(clientID, room: room)
            if let ackToken { try? server.ack(ackToken, arguments: [.string(room)]) }
        case "publish":
            guard let request = arguments.values.first, let room = request["room"]?.stringValue,
                let name = request["event"]?.stringValue, let payload = request["payload"]
            else { return }
            let count = try? server.publish(
                room: room, event: name, payloadJSON: payload.jsonBytes, conflationKey: request["key"]?.stringValue
            )
            if let ackToken { try? server.ack(ackToken, arguments: [.integer(count ?? -1)]) }
        case "disconnect-me":
            try? server.disconnect(clientID, reason: "asked to disconnect")
        default:
            break
        }
    }

    func server(_ server: SocketIOServer, handle request: ForwardedRequest) async -> ForwardedResponse {
        if request.path == "/health" {
            return ForwardedResponse(
                status: 200, headers: [("Content-Type", "text/plain")],
                body: Array("\(server.clientCount) clients".utf8)
            )
        }
        return .error(status: 404, code: "not_found", message: "no route \(request.path)")
    }
}
