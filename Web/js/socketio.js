// A small Socket.IO v5 / Engine.IO v4 client: WebSocket first, HTTP long-polling when the WebSocket cannot
// open, server heartbeats watched, reconnection with exponential backoff and jitter, acknowledgements with
// timeouts. Only the default namespace and text packets (MarketHub sends no binary events).

const ENGINE_OPEN = "0";
const ENGINE_CLOSE = "1";
const ENGINE_PING = "2";
const ENGINE_PONG = "3";
const ENGINE_MESSAGE = "4";
const ENGINE_NOOP = "6";
const RECORD_SEPARATOR = "\x1e";

const SIO_CONNECT = "0";
const SIO_DISCONNECT = "1";
const SIO_EVENT = "2";
const SIO_ACK = "3";
const SIO_CONNECT_ERROR = "4";

/// Splits an Engine.IO polling payload into packets.
export function decodePollingPayload(text) {
  return text.length === 0 ? [] : text.split(RECORD_SEPARATOR);
}

/// Parses one Socket.IO packet (namespace "/"): {type, id, data}. Throws on malformed input.
export function decodeSocketPacket(text) {
  const type = text[0];
  if (!"0123456".includes(type) || text.length === 0) throw new Error(`bad packet type in ${text.slice(0, 20)}`);
  let index = 1;
  if (text[index] === "/") {
    const comma = text.indexOf(",", index);
    const namespace = comma < 0 ? text.slice(index) : text.slice(index, comma);
    if (namespace !== "/") throw new Error(`unexpected namespace ${namespace}`);
    index = comma < 0 ? text.length : comma + 1;
  }
  let idText = "";
  while (index < text.length && text[index] >= "0" && text[index] <= "9") idText += text[index++];
  const id = idText.length ? Number(idText) : null;
  const rest = text.slice(index);
  const data = rest.length ? JSON.parse(rest) : undefined;
  return { type, id, data };
}

/// Encodes an EVENT packet with an optional ack id.
export function encodeEvent(name, args, ackId) {
  return SIO_EVENT + (ackId == null ? "" : String(ackId)) + JSON.stringify([name, ...args]);
}

/// Backoff for attempt n (0-based): exponential from `base` up to `max`, with ±`jitter` proportional noise.
export function backoffDelay(attempt, { base = 500, max = 10000, jitter = 0.5, random = Math.random } = {}) {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 16));
  const spread = raw * jitter;
  return Math.max(0, Math.round(raw - spread + random() * 2 * spread));
}

class WebSocketTransport {
  constructor(url, handlers) {
    this.name = "websocket";
    this.handlers = handlers;
    this.opened = false;
    this.socket = new WebSocket(url);
    this.socket.onopen = () => {
      this.opened = true;
    };
    this.socket.onmessage = (message) => {
      if (typeof message.data === "string") handlers.packet(message.data);
    };
    this.socket.onerror = () => {};
    this.socket.onclose = () => handlers.closed(this.opened ? "transport close" : "transport error");
  }

  send(packet) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(packet);
  }

  close() {
    this.socket.onclose = null;
    this.socket.onmessage = null;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

class PollingTransport {
  constructor(url, handlers) {
    this.name = "polling";
    this.url = url;
    this.handlers = handlers;
    this.sid = null;
    this.closed = false;
    this.sendQueue = [];
    this.sending = false;
    this.controller = new AbortController();
    this.poll();
  }

  endpoint() {
    const sid = this.sid ? `&sid=${encodeURIComponent(this.sid)}` : "";
    return `${this.url}${sid}&t=${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  }

  async poll() {
    while (!this.closed) {
      let text;
      try {
        const response = await fetch(this.endpoint(), { signal: this.controller.signal, cache: "no-store" });
        if (!response.ok) throw new Error(`polling GET ${response.status}`);
        text = await response.text();
      } catch (error) {
        if (!this.closed) this.fail("transport error");
        return;
      }
      for (const packet of decodePollingPayload(text)) {
        if (this.sid === null && packet[0] === ENGINE_OPEN) {
          try {
            this.sid = JSON.parse(packet.slice(1)).sid;
          } catch {
            this.fail("bad handshake");
            return;
          }
        }
        this.handlers.packet(packet);
        if (this.closed) return;
      }
    }
  }

  send(packet) {
    this.sendQueue.push(packet);
    this.flush();
  }

  async flush() {
    if (this.sending || this.closed || this.sid === null || this.sendQueue.length === 0) return;
    this.sending = true;
    const batch = this.sendQueue.splice(0);
    try {
      const response = await fetch(this.endpoint(), {
        method: "POST",
        body: batch.join(RECORD_SEPARATOR),
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        signal: this.controller.signal,
      });
      if (!response.ok) throw new Error(`polling POST ${response.status}`);
    } catch {
      if (!this.closed) this.fail("transport error");
      return;
    } finally {
      this.sending = false;
    }
    this.flush();
  }

  fail(reason) {
    if (this.closed) return;
    this.close();
    this.handlers.closed(reason);
  }

  close() {
    this.closed = true;
    this.controller.abort();
  }
}

/// A Socket.IO connection that keeps itself connected. Events: "state" ({state, transport, attempt}),
/// "connect", "disconnect" (reason), "connect_error" (data), and every server event by name.
export class SocketClient {
  constructor(baseURL, options = {}) {
    const base = new URL(baseURL, window.location.href);
    this.httpBase = `${base.protocol}//${base.host}`;
    this.path = options.path ?? "/socket.io/";
    this.auth = options.auth ?? null;
    this.ackTimeout = options.ackTimeout ?? 8000;
    this.preferPolling = options.transports?.[0] === "polling";
    this.listeners = new Map();
    this.acks = new Map();
    this.nextAckId = 1;
    this.state = "idle";
    this.transport = null;
    this.attempt = 0;
    this.webSocketFailures = 0;
    this.stopped = false;
    this.heartbeatTimer = null;
    this.reconnectTimer = null;
    this.connected = false;
    this.id = null;
  }

  on(event, listener) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(listener);
    return () => this.listeners.get(event)?.delete(listener);
  }

  dispatch(event, ...args) {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(...args);
      } catch (error) {
        console.error(`listener for ${event} failed`, error);
      }
    }
  }

  setState(state) {
    this.state = state;
    this.dispatch("state", { state, transport: this.transport?.name ?? null, attempt: this.attempt });
  }

  connect() {
    this.stopped = false;
    this.open();
    return this;
  }

  open() {
    clearTimeout(this.reconnectTimer);
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const usePolling = this.preferPolling || this.webSocketFailures >= 2 || typeof WebSocket === "undefined";
    const handlers = {
      packet: (packet) => this.onEnginePacket(packet),
      closed: (reason) => this.onTransportClosed(reason),
    };
    if (usePolling) {
      this.transport = new PollingTransport(`${this.httpBase}${this.path}?EIO=4&transport=polling`, handlers);
    } else {
      const scheme = this.httpBase.startsWith("https") ? "wss" : "ws";
      const host = this.httpBase.replace(/^https?:\/\//, "");
      this.transport = new WebSocketTransport(`${scheme}://${host}${this.path}?EIO=4&transport=websocket`, handlers);
    }
    this.setState(this.state);
  }

  onEnginePacket(packet) {
    switch (packet[0]) {
      case ENGINE_OPEN: {
        const handshake = JSON.parse(packet.slice(1));
        this.pingInterval = handshake.pingInterval ?? 25000;
        this.pingTimeout = handshake.pingTimeout ?? 20000;
        this.armHeartbeat();
        this.transport.send(ENGINE_MESSAGE + SIO_CONNECT + (this.auth ? JSON.stringify(this.auth) : ""));
        break;
      }
      case ENGINE_PING:
        this.armHeartbeat();
        this.transport.send(ENGINE_PONG + packet.slice(1));
        break;
      case ENGINE_MESSAGE:
        this.onSocketPacket(packet.slice(1));
        break;
      case ENGINE_CLOSE:
        this.onTransportClosed("server close");
        break;
      case ENGINE_NOOP:
      case ENGINE_PONG:
        break;
      default:
        break;
    }
  }

  onSocketPacket(text) {
    let packet;
    try {
      packet = decodeSocketPacket(text);
    } catch (error) {
      console.warn("malformed packet from server", error);
      return;
    }
    switch (packet.type) {
      case SIO_CONNECT:
        this.id = packet.data?.sid ?? null;
        this.connected = true;
        this.attempt = 0;
        this.webSocketFailures = 0;
        this.setState("connected");
        this.dispatch("connect");
        break;
      case SIO_CONNECT_ERROR:
        this.dispatch("connect_error", packet.data);
        this.onTransportClosed("connect error");
        break;
      case SIO_EVENT:
        if (Array.isArray(packet.data) && typeof packet.data[0] === "string") {
          this.dispatch(packet.data[0], ...packet.data.slice(1));
        }
        break;
      case SIO_ACK: {
        const pending = this.acks.get(packet.id);
        if (pending) {
          this.acks.delete(packet.id);
          clearTimeout(pending.timer);
          pending.resolve(Array.isArray(packet.data) ? packet.data[0] : packet.data);
        }
        break;
      }
      case SIO_DISCONNECT:
        this.onTransportClosed("io server disconnect");
        break;
      default:
        break;
    }
  }

  armHeartbeat() {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(
      () => this.onTransportClosed("ping timeout"),
      (this.pingInterval ?? 25000) + (this.pingTimeout ?? 20000),
    );
  }

  onTransportClosed(reason) {
    if (this.transport === null) return;
    const wasConnected = this.connected;
    const failedWebSocket = this.transport.name === "websocket" && !wasConnected;
    this.transport.close();
    this.transport = null;
    this.connected = false;
    clearTimeout(this.heartbeatTimer);
    for (const [, pending] of this.acks) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`disconnected: ${reason}`));
    }
    this.acks.clear();
    if (failedWebSocket) this.webSocketFailures += 1;
    if (wasConnected) this.dispatch("disconnect", reason);
    if (this.stopped) {
      this.setState("disconnected");
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  /// Sends an event; no delivery guarantee while disconnected (returns false then).
  emit(event, ...args) {
    if (!this.connected || !this.transport) return false;
    this.transport.send(ENGINE_MESSAGE + encodeEvent(event, args, null));
    return true;
  }

  /// Sends an event and resolves with the server's acknowledgement (its first argument).
  request(event, ...args) {
    return new Promise((resolve, reject) => {
      if (!this.connected || !this.transport) {
        reject(new Error("not connected"));
        return;
      }
      const id = this.nextAckId++;
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new Error(`${event}: no acknowledgement within ${this.ackTimeout} ms`));
      }, this.ackTimeout);
      this.acks.set(id, { resolve, reject, timer });
      this.transport.send(ENGINE_MESSAGE + encodeEvent(event, args, id));
    });
  }

  /// Forces a reconnect (what a network change would do); used by the tests and the status pill.
  reconnectNow() {
    this.attempt = 0;
    if (this.transport) this.onTransportClosed("client reconnect");
    else this.open();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.transport) {
      this.transport.send(ENGINE_MESSAGE + SIO_DISCONNECT);
      this.onTransportClosed("io client disconnect");
    } else {
      this.setState("disconnected");
    }
  }
}
