"""A tiny HTTP/2 server over TLS on 127.0.0.1 that stands in for APNs in the tests.

It speaks h2 (ALPN "h2", the `h2` library's state machine over a TLS socket whose
certificate a test CA signed) and records each request: path, headers, body. The answer
per device token is 200 unless `status[token]` says otherwise (e.g. 410)."""

import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events


class ApnsStub:
    def __init__(self, cert_file: str, key_file: str):
        self.requests: list[dict] = []
        self.status: dict[str, int] = {}
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert_file, key_file)
        self._ctx.set_alpn_protocols(["h2"])
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._sock.close()

    def _serve(self):
        self._sock.settimeout(0.2)
        while not self._stop:
            try:
                raw, _addr = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw):
        try:
            conn_sock = self._ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        conn_sock.sendall(conn.data_to_send())
        streams: dict[int, dict] = {}
        try:
            while True:
                data = conn_sock.recv(65535)
                if not data:
                    break
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {
                            (k.decode() if isinstance(k, bytes) else k): (
                                v.decode() if isinstance(v, bytes) else v
                            )
                            for k, v in event.headers
                        }
                        streams[event.stream_id] = {"headers": headers, "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        req = streams.pop(event.stream_id)
                        req["path"] = req["headers"].get(":path", "")
                        self.requests.append(req)
                        token = req["path"].rsplit("/", 1)[-1]
                        code = self.status.get(token, 200)
                        body = b"" if code == 200 else b'{"reason":"Unregistered"}'
                        conn.send_headers(
                            event.stream_id,
                            [(":status", str(code)), ("content-length", str(len(body)))],
                            end_stream=not body,
                        )
                        if body:
                            conn.send_data(event.stream_id, body, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        conn_sock.sendall(conn.data_to_send())
                        return
                conn_sock.sendall(conn.data_to_send())
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn_sock.close()
