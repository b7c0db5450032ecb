"""A Socket.IO client that stops reading: a raw WebSocket (no library, so nothing reads behind our back) with a
small receive buffer, which connects, subscribes to many symbols and then never reads its socket again."""

import base64
import json
import os
import socket
import struct
import time

import requests


def option_tickers(url, underlying, count):
    """Up to `count` option contracts of `underlying` that the product knows (from its option chain)."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith("O:") and value not in found:
            found.append(value)

    response = requests.get(f"{url}/api/market/options/chain/{underlying}", timeout=60)
    if response.status_code == 200:
        walk(response.json())
    return found[:count]


class StalledClient:
    def __init__(self, port, symbols, receive_buffer=4096):
        self.symbols = symbols
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window: the backlog builds on the server, not in this process's kernel buffer.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the WebSocket handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        opened = self.read_text()
        if not opened.startswith("0"):
            raise ConnectionError(f"expected the Engine.IO open packet, got {opened!r}")
        self.send_text("40")
        while True:
            packet = self.read_text()
            if packet.startswith("40"):
                break
        for symbol in symbols:
            self.send_text("42" + json.dumps(["live:subscribe", {"symbol": symbol}]))
        self.stalled_at = time.monotonic()

    def read_text(self):
        while True:
            frame = self._frame()
            if frame is None:
                raise ConnectionError("closed")
            opcode, payload = frame
            if opcode == 1:
                return payload.decode()
            if opcode == 8:
                raise ConnectionError("server closed the WebSocket")

    def _need(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def _frame(self):
        if not self._need(2):
            return None
        first, second = self.buffer[0], self.buffer[1]
        length = second & 0x7F
        offset = 2
        if length == 126:
            if not self._need(4):
                return None
            length = struct.unpack(">H", self.buffer[2:4])[0]
            offset = 4
        elif length == 127:
            if not self._need(10):
                return None
            length = struct.unpack(">Q", self.buffer[2:10])[0]
            offset = 10
        if not self._need(offset + length):
            return None
        payload = self.buffer[offset:offset + length]
        self.buffer = self.buffer[offset + length:]
        return first & 0x0F, payload

    def send_text(self, text):
        data = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def drain_until_closed(self, timeout=30):
        """Reads everything left; True when the server closed the connection within `timeout`."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(1 << 20):
                    return True
        except (ConnectionError, OSError):
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
