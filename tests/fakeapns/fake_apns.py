#!/usr/bin/python3
"""A fake APNs server for custos tests and benchmarks.

Speaks HTTP/2 over TLS (ALPN h2) like api.push.apple.com with certificate-based trust: the
client MUST present a certificate signed by --client-ca, and the apns-topic of every push must
equal that certificate's subject UID (else 400 TopicDisallowed, as APNs answers).

Listens on 127.0.0.1 on an ephemeral port (or --port) and prints "PORT <n>" on stdout once ready.
Every push (POST /3/device/<hex token>) is recorded as one JSON line in --record FILE (flushed
before the response is sent) and kept in memory for GET /_pushes; every accepted connection is
recorded as {"type": "connection", ...}. GET /_stats answers {"connections": n, "pushes": n}.

Configurable errors, per token (hex, case-insensitive), repeatable:
  --rule TOKEN,STATUS[,REASON[,COUNT]]
      answer STATUS with {"reason": REASON} for the first COUNT pushes to TOKEN (0 or absent:
      always), then 200. A 410 also carries "timestamp" (milliseconds) as APNs sends it.
  e.g. --rule aa01,410,Unregistered  --rule aa02,429,TooManyRequests,2  --rule aa03,400,BadDeviceToken
  STATUS may also be a transport failure instead of an answer (the push is still recorded):
    close   drop the TCP connection without answering (connection loss mid-stream)
    goaway  send GOAWAY(NO_ERROR) naming the previous stream as the last one processed, so
            this stream is refused, then close the connection
    hang    never answer this stream (request timeouts)

--client-cert-optional exists only so h2load (which cannot present a client certificate) can
measure this server alone.

Needs Debian's python3-h2 (run it with /usr/bin/python3). Stop it with SIGTERM.
"""

import argparse
import asyncio
import json
import signal
import ssl
import sys
import time
import uuid

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

SUBJECT_NAMES = {
    "userId": "UID",
    "commonName": "CN",
    "countryName": "C",
    "organizationName": "O",
    "organizationalUnitName": "OU",
}


class Rule:
    def __init__(self, spec):
        parts = spec.split(",")
        if len(parts) < 2:
            raise ValueError("--rule TOKEN,STATUS[,REASON[,COUNT]]: " + spec)
        self.token = parts[0].strip().lower()
        action = parts[1].strip().lower()
        self.status = action if action in ("close", "goaway", "hang") else int(action)
        self.reason = parts[2] if len(parts) > 2 and parts[2] else None
        self.count = int(parts[3]) if len(parts) > 3 and parts[3] else 0
        self.used = 0

    def apply(self):
        """(status, reason) for the next push to this token, or None for a normal 200."""
        if self.count and self.used >= self.count:
            return None
        self.used += 1
        return self.status, self.reason


class State:
    def __init__(self, args):
        self.rules = {}
        for spec in args.rule or []:
            r = Rule(spec)
            self.rules[r.token] = r
        self.record = open(args.record, "a", encoding="utf-8") if args.record else None
        self.keep = not args.no_memory
        self.pushes = []
        self.connections = 0
        self.push_count = 0
        self.max_streams = args.max_streams

    def write(self, obj):
        if self.record is not None:
            self.record.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.record.flush()


def subject_of(cert):
    if not cert:
        return "", ""
    parts = []
    uid = ""
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            short = SUBJECT_NAMES.get(name, name)
            if short == "UID":
                uid = value
            parts.append(short + "=" + value)
    return ",".join(parts), uid


class Apns(asyncio.Protocol):
    def __init__(self, state):
        self.state = state
        self.transport = None
        self.conn = None
        self.streams = {}
        self.id = 0
        self.subject = ""
        self.uid = ""

    def connection_made(self, transport):
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            transport.close()
            return
        self.subject, self.uid = subject_of(ssl_object.getpeercert())
        self.state.connections += 1
        self.id = self.state.connections
        self.state.write({"type": "connection", "connection": self.id,
                          "client_subject": self.subject, "time": time.time()})
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.state.max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        transport.write(self.conn.data_to_send())

    def data_received(self, data):
        if self.conn is None:
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if self.conn is None:  # a rule dropped the connection
                return
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())
                if event.stream_ended is not None:
                    self.handle(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream[1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                if event.stream_id in self.streams:
                    self.handle(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.write(self.conn.data_to_send())
                self.transport.close()
                return
        if self.conn is None:
            return
        out = self.conn.data_to_send()
        if out:
            self.transport.write(out)

    def respond(self, stream_id, status, body=None, apns_id=None):
        headers = [(":status", str(status))]
        if apns_id:
            headers.append(("apns-id", apns_id))
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers.append(("content-type", "application/json"))
            headers.append(("content-length", str(len(data))))
        try:
            self.conn.send_headers(stream_id, headers, end_stream=data is None)
            if data is not None:
                self.conn.send_data(stream_id, data, end_stream=True)
        except h2.exceptions.StreamClosedError:
            pass

    def handle(self, stream_id):
        headers, body = self.streams.pop(stream_id)
        method = headers.get(":method", "")
        path = headers.get(":path", "")
        if method == "GET" and path == "/_pushes":
            self.respond(stream_id, 200, self.state.pushes)
            return
        if method == "GET" and path == "/_stats":
            self.respond(stream_id, 200, {"connections": self.state.connections,
                                          "pushes": self.state.push_count})
            return
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        if method != "POST":
            self.respond(stream_id, 405, {"reason": "MethodNotAllowed"}, apns_id)
            return
        if not path.startswith("/3/device/"):
            self.respond(stream_id, 404, {"reason": "BadPath"}, apns_id)
            return
        token = path[len("/3/device/"):].lower()
        self.state.push_count += 1
        record = {
            "type": "push",
            "connection": self.id,
            "stream": stream_id,
            "method": method,
            "path": path,
            "token": token,
            "headers": {k: v for k, v in headers.items() if not k.startswith(":")},
            "body": body.decode("utf-8", "replace"),
            "client_subject": self.subject,
            "time": time.time(),
        }
        self.state.write(record)
        if self.state.keep:
            self.state.pushes.append(record)

        try:
            bytes.fromhex(token)
            valid_token = len(token) > 0
        except ValueError:
            valid_token = False
        if not valid_token:
            self.respond(stream_id, 400, {"reason": "BadDeviceToken"}, apns_id)
            return
        if headers.get("apns-topic", "") != self.uid:
            self.respond(stream_id, 400, {"reason": "TopicDisallowed"}, apns_id)
            return
        if not body:
            self.respond(stream_id, 400, {"reason": "PayloadEmpty"}, apns_id)
            return
        rule = self.state.rules.get(token)
        outcome = rule.apply() if rule is not None else None
        if outcome is None:
            self.respond(stream_id, 200, None, apns_id)
            return
        status, reason = outcome
        if status == "hang":
            return
        if status == "close":
            self.transport.abort()
            self.conn = None
            return
        if status == "goaway":
            self.conn.close_connection(error_code=0, last_stream_id=max(stream_id - 2, 0))
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            self.conn = None
            return
        reply = {"reason": reason or "Error"}
        if status == 410:
            reply["timestamp"] = int(time.time() * 1000)
        self.respond(stream_id, status, reply, apns_id)

    def connection_lost(self, exc):
        self.streams.clear()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="server private key (PEM)")
    parser.add_argument("--client-ca", required=True, help="CA(s) client certificates must chain to")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", help="append every push as a JSON line to this file")
    parser.add_argument("--no-memory", action="store_true",
                        help="do not keep pushes in memory (GET /_pushes answers [])")
    parser.add_argument("--max-streams", type=int, default=1000,
                        help="SETTINGS_MAX_CONCURRENT_STREAMS announced to clients")
    parser.add_argument("--rule", action="append", help="TOKEN,STATUS[,REASON[,COUNT]]")
    parser.add_argument("--client-cert-optional", action="store_true",
                        help="benchmarks only: accept clients without a certificate (h2load "
                             "cannot present one); pushes then need no apns-topic")
    args = parser.parse_args()

    state = State(args)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    context.verify_mode = ssl.CERT_OPTIONAL if args.client_cert_optional else ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=args.client_ca)
    context.set_alpn_protocols(["h2"])

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: Apns(state), "127.0.0.1", args.port, ssl=context, backlog=1024))
    port = server.sockets[0].getsockname()[1]
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    print("PORT %d" % port, flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        if state.record is not None:
            state.record.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
