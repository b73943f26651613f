#!/usr/bin/python3
"""Loopback push services for the push sender's tests, written from the providers' documentation
and the RFCs with Debian's python3-h2, python3-cryptography and python3-jwt: an implementation
independent of the C++ code under test, so a bug in our signatures or encryption cannot pass.

  apns     Apple's provider API (HTTP/2 over TLS, ALPN h2): POST /3/device/<token>, token
           authentication (an ES256 JWT checked against the .p8 key's public half, kid, iss, iat
           not older than an hour), apns-topic / apns-push-type / apns-priority /
           apns-expiration / apns-collapse-id, a JSON payload of at most 4096 bytes. Errors as
           Apple documents them: {"reason": "..."}.
  fcm      FCM HTTP v1 (HTTP/2 over TLS) and its OAuth 2.0 token endpoint on the same port:
           POST /token takes the JWT-bearer grant (RS256, checked against the service account's
           key: iss, scope, aud, iat, exp) and issues access tokens; POST
           /v1/projects/<project>/messages:send checks the bearer token and the message.
           Errors as google.rpc.Status JSON with an FcmError errorCode.
  webpush  A push service (RFC 8030, HTTP/2 cleartext on 127.0.0.1) that is also the browser: it
           makes the subscriptions (P-256 keys and auth secrets), checks VAPID (RFC 8292: the
           "vapid" scheme, the ES256 JWT against k, aud = our origin, exp within 24 h, sub) and
           the TTL / Urgency / Topic headers, and decrypts the aes128gcm payload (RFC 8291 and
           RFC 8188, HKDF written out from RFC 5869 on HMAC-SHA-256).

Every request is appended as one JSON line to --record: what was asked, the problems found
(empty when the request is what the documentation asks for), the answer, the decrypted or parsed
payload. --script is JSON {key: [response, ...]}: the key is the APNs device token, the FCM
registration token ("__token__" for the token endpoint) or the Web Push subscription id; each
response {"status": 429, "retry_after": "1", "delay": 3.0, "reason": "...", "location": "..."} is
used once, in order, then the default success. Nothing here logs a token or a payload.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import ssl
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Recorder:
    def __init__(self, path):
        self.out = open(path, "a", buffering=1)

    def write(self, entry):
        entry["t"] = time.time()
        self.out.write(json.dumps(entry, sort_keys=True) + "\n")


class Script:
    def __init__(self, path):
        self.queues = {}
        if path:
            with open(path) as f:
                self.queues = {k: list(v) for k, v in json.load(f).items()}

    def next(self, key):
        queue = self.queues.get(key)
        return queue.pop(0) if queue else None


class H2Server(asyncio.Protocol):
    """One HTTP/2 connection; `handler(headers, body)` returns (status, headers, body, delay)."""

    connections = itertools.count(1)

    def __init__(self, handler):
        self.handler = handler
        self.connection = next(H2Server.connections)
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams = {}
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                names = [name for name, _ in event.headers]
                self.streams[event.stream_id] = {
                    "headers": dict(event.headers),
                    "duplicates": sorted({n for n in names if names.count(n) > 1}),
                    "body": bytearray()}
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream["body"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    asyncio.ensure_future(self.respond(event.stream_id, stream))
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    async def respond(self, stream_id, stream):
        status, headers, body, delay = self.handler(stream["headers"], bytes(stream["body"]),
                                                    stream["duplicates"], self.connection)
        if delay:
            await asyncio.sleep(delay)
        try:
            self.conn.send_headers(stream_id, [(":status", str(status))] + headers,
                                   end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass  # the client gave up on it (its deadline passed)
        self.flush()


def scripted(script, key, default_status):
    step = script.next(key) or {}
    return (step.get("status", default_status), step.get("retry_after"), step.get("delay", 0),
            step.get("reason"), step.get("location"), step.get("error_code"))


# --- APNs ------------------------------------------------------------------------------------

def apns_handler(args, record, script):
    with open(args.key_pem, "rb") as f:
        public_key = serialization.load_pem_private_key(f.read(), password=None).public_key()

    def error(status, reason, entry, delay=0, extra=None):
        entry["status"] = status
        entry["reason"] = reason
        record.write(entry)
        body = {"reason": reason}
        if status == 410:
            body["timestamp"] = int(time.time() * 1000)
        return status, (extra or []) + [("content-type", "application/json")], \
            json.dumps(body).encode(), delay

    def handle(headers, body, duplicates, connection):
        entry = {"kind": "apns", "problems": [], "connection": connection, "headers": {
            k: headers.get(k) for k in ("apns-push-type", "apns-priority", "apns-expiration",
                                        "apns-collapse-id", "apns-topic")}}
        path = headers.get(":path", "")
        if headers.get(":method") != "POST":
            return error(405, "MethodNotAllowed", entry)
        if duplicates:
            return error(400, "DuplicateHeaders", entry)
        if not path.startswith("/3/device/"):
            return error(404, "BadPath", entry)
        token = path[len("/3/device/"):]
        entry["key"] = token
        if not re.fullmatch(r"[0-9a-fA-F]{64}", token):
            return error(400, "BadDeviceToken", entry)
        auth = headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return error(403, "MissingProviderToken", entry)
        provider_token = auth[len("bearer "):]
        try:
            header = jwt.get_unverified_header(provider_token)
            claims = jwt.decode(provider_token, public_key, algorithms=["ES256"],
                                options={"require": ["iss", "iat"], "verify_exp": False,
                                         "verify_aud": False, "verify_iat": False})
        except jwt.InvalidTokenError:
            return error(403, "InvalidProviderToken", entry)
        if header.get("kid") != args.key_id:
            return error(403, "InvalidProviderToken", entry)
        if claims.get("iss") != args.team_id:
            return error(403, "InvalidProviderToken", entry)
        entry["jwt_iat"] = claims["iat"]
        entry["jwt_sha"] = hashlib.sha256(provider_token.encode()).hexdigest()[:16]
        if time.time() - claims["iat"] > 3600:
            return error(403, "ExpiredProviderToken", entry)
        topic = headers.get("apns-topic")
        if not topic:
            return error(400, "MissingTopic", entry)
        if topic != args.topic:
            return error(400, "TopicDisallowed", entry)
        push_type = headers.get("apns-push-type")
        if push_type not in ("alert", "background", "location", "voip", "complication",
                             "fileprovider", "mdm", "liveactivity", "pushtotalk"):
            return error(400, "InvalidPushType", entry)
        priority = headers.get("apns-priority", "10")
        if priority not in ("1", "5", "10"):
            return error(400, "BadPriority", entry)
        expiration = headers.get("apns-expiration", "0")
        if not re.fullmatch(r"\d+", expiration):
            return error(400, "BadExpirationDate", entry)
        collapse = headers.get("apns-collapse-id")
        if collapse is not None and len(collapse.encode()) > 64:
            return error(400, "BadCollapseId", entry)
        if len(body) > 4096:
            return error(413, "PayloadTooLarge", entry)
        if not body:
            return error(400, "PayloadEmpty", entry)
        try:
            payload = json.loads(body)
        except ValueError:
            entry["problems"].append("payload is not JSON")
            payload = {}
        entry["payload"] = payload
        # Beyond what APNs itself refuses: what this app's pushes must be.
        aps = payload.get("aps", {}) if isinstance(payload, dict) else {}
        if not isinstance(aps.get("alert"), dict) or not aps["alert"].get("title"):
            entry["problems"].append("aps.alert.title missing")
        if aps.get("interruption-level") != "passive":
            entry["problems"].append("interruption-level is not passive")
        if push_type != "alert":
            entry["problems"].append("apns-push-type is not alert")
        if priority != "5":
            entry["problems"].append("apns-priority is not 5")
        if not collapse:
            entry["problems"].append("no apns-collapse-id")
        if int(expiration) <= time.time():
            entry["problems"].append("apns-expiration is not in the future")
        if headers.get("content-type", "application/json") != "application/json":
            entry["problems"].append("content-type")
        status, retry_after, delay, reason, _, _ = scripted(script, token, 200)
        apns_id = ("%032x" % int.from_bytes(os.urandom(16), "big"))
        extra = [("apns-id", apns_id)]
        if retry_after is not None:
            extra.append(("retry-after", str(retry_after)))
        if status != 200:
            default = {400: "BadDeviceToken", 410: "Unregistered", 429: "TooManyRequests",
                       500: "InternalServerError", 503: "ServiceUnavailable"}.get(status, "")
            return error(status, reason or default, entry, delay, extra)
        entry["status"] = 200
        record.write(entry)
        return 200, extra, b"", delay

    return handle


# --- FCM -------------------------------------------------------------------------------------

def fcm_handler(args, record, script):
    with open(args.credentials) as f:
        credentials = json.load(f)
    public_key = serialization.load_pem_private_key(
        credentials["private_key"].encode(), password=None).public_key()
    project = credentials["project_id"]
    tokens = {}  # access token -> expiry
    counter = itertools.count(1)

    def google_error(status, code_name, error_code, entry, delay=0, extra=None):
        entry["status"] = status
        entry["reason"] = error_code or code_name
        record.write(entry)
        err = {"code": status, "message": "test", "status": code_name}
        if error_code:
            err["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                               "errorCode": error_code}]
        return status, (extra or []) + [("content-type", "application/json; charset=UTF-8")], \
            json.dumps({"error": err}).encode(), delay

    def token_endpoint(headers, body):
        entry = {"kind": "fcm_token", "problems": []}
        status, retry_after, delay, _, _, _ = scripted(script, "__token__", 200)
        if status != 200:
            entry["status"] = status
            record.write(entry)
            return status, [("content-type", "application/json")], \
                json.dumps({"error": "internal_failure"}).encode(), delay
        if headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            entry["problems"].append("content-type")
        form = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            entry["status"] = 400
            record.write(entry)
            return 400, [], json.dumps({"error": "unsupported_grant_type"}).encode(), 0
        try:
            claims = jwt.decode(form.get("assertion", [""])[0], public_key, algorithms=["RS256"],
                                audience=credentials["token_uri"],
                                issuer=credentials["client_email"],
                                options={"require": ["iss", "aud", "iat", "exp", "scope"]})
        except jwt.InvalidTokenError as e:
            entry["status"] = 400
            entry["reason"] = type(e).__name__
            record.write(entry)
            return 400, [], json.dumps({"error": "invalid_grant"}).encode(), 0
        if "https://www.googleapis.com/auth/firebase.messaging" not in claims["scope"].split():
            entry["problems"].append("scope lacks firebase.messaging")
        if claims["exp"] - claims["iat"] > 3600:
            entry["problems"].append("assertion lives longer than an hour")
        access = "ya29.test-%d-%s" % (next(counter), b64u(os.urandom(12)))
        tokens[access] = time.time() + args.token_ttl
        entry["status"] = 200
        entry["issued"] = len(tokens)
        record.write(entry)
        return 200, [("content-type", "application/json")], json.dumps(
            {"access_token": access, "expires_in": args.token_ttl,
             "token_type": "Bearer"}).encode(), delay

    def handle(headers, body, duplicates, connection):
        path = headers.get(":path", "")
        if headers.get(":method") != "POST":
            return 405, [], b"", 0
        if path == "/token":
            return token_endpoint(headers, body)
        entry = {"kind": "fcm_send", "problems": [], "connection": connection}
        if path != "/v1/projects/%s/messages:send" % project:
            return google_error(404, "NOT_FOUND", None, entry)
        auth = headers.get("authorization", "")
        access = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if tokens.get(access, 0) <= time.time():
            return google_error(401, "UNAUTHENTICATED", None, entry)
        entry["access_token_sha"] = hashlib.sha256(access.encode()).hexdigest()[:16]
        if not headers.get("content-type", "").startswith("application/json"):
            entry["problems"].append("content-type")
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return google_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", entry)
        token = message.get("token", "")
        entry["key"] = token
        data = message.get("data", {})
        android = message.get("android", {})
        entry["payload"] = data
        entry["android"] = android
        if not token:
            return google_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", entry)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return google_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", entry)
        if android.get("priority", "NORMAL").upper() not in ("NORMAL", "HIGH"):
            return google_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", entry)
        if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", android["ttl"]):
            return google_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", entry)
        if android.get("priority", "").upper() != "NORMAL":
            entry["problems"].append("priority is not NORMAL")
        if "ttl" not in android:
            entry["problems"].append("no ttl")
        if not android.get("collapse_key"):
            entry["problems"].append("no collapse_key")
        status, retry_after, delay, _, _, error_code = scripted(script, token, 200)
        extra = [("retry-after", str(retry_after))] if retry_after is not None else []
        if status != 200:
            name = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                    500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
            code = error_code or {404: "UNREGISTERED", 429: "QUOTA_EXCEEDED", 500: "INTERNAL",
                                  503: "UNAVAILABLE"}.get(status)
            return google_error(status, name, code, entry, delay, extra)
        entry["status"] = 200
        record.write(entry)
        return 200, [("content-type", "application/json; charset=UTF-8")] + extra, json.dumps(
            {"name": "projects/%s/messages/%d" % (project, next(counter))}).encode(), delay

    return handle


# --- Web Push --------------------------------------------------------------------------------

def hkdf_sha256(salt, ikm, info, length):
    """RFC 5869: extract, then expand (one block suffices for every length used here)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def webpush_decrypt(body, ua_private, ua_public, auth_secret):
    """RFC 8291 section 3 and RFC 8188 section 2, as a user agent does it."""
    if len(body) < 21:
        raise ValueError("short body")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if idlen != 65 or rs < 18:
        raise ValueError("bad header")
    as_public = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    shared = ua_private.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public))
    ikm = hkdf_sha256(auth_secret, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = hkdf_sha256(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf_sha256(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    plaintext = b""
    records = [ciphertext[i:i + rs] for i in range(0, len(ciphertext), rs)]
    for seq, record in enumerate(records):
        iv = (int.from_bytes(nonce, "big") ^ seq).to_bytes(12, "big")
        padded = AESGCM(cek).decrypt(iv, record, None).rstrip(b"\x00")
        last = seq == len(records) - 1
        if not padded or padded[-1] != (2 if last else 1):
            raise ValueError("bad padding delimiter")
        plaintext += padded[:-1]
    return plaintext


def webpush_handler(args, record, script):
    origin = "http://127.0.0.1:%d" % args.port
    subscriptions = {}
    for i in range(args.count):
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        sub_id = "sub%d" % i  # predictable, so that a test's --script can name it
        subscriptions[sub_id] = (private, public, os.urandom(16))
    with open(args.subscriptions + ".tmp", "w") as f:
        json.dump([{"id": sid, "endpoint": "%s/push/%s" % (origin, sid), "expirationTime": None,
                    "keys": {"p256dh": b64u(pub), "auth": b64u(auth)}}
                   for sid, (_, pub, auth) in subscriptions.items()], f)
    os.rename(args.subscriptions + ".tmp", args.subscriptions)

    def answer(status, entry, delay=0, extra=None):
        entry["status"] = status
        record.write(entry)
        return status, extra or [], b"", delay

    def handle(headers, body, duplicates, connection):
        entry = {"kind": "webpush", "problems": [], "connection": connection, "headers": {
            k: headers.get(k) for k in ("ttl", "urgency", "topic", "content-encoding")}}
        path = headers.get(":path", "")
        if headers.get(":method") != "POST" or not path.startswith("/push/"):
            return answer(404, entry)
        sub_id = path[len("/push/"):]
        entry["key"] = sub_id
        if sub_id not in subscriptions:
            return answer(404, entry)
        # RFC 8030 5.2: a push service MUST answer 400 when TTL is missing.
        ttl = headers.get("ttl")
        if ttl is None or not re.fullmatch(r"\d+", ttl):
            entry["problems"].append("TTL missing or malformed")
            return answer(400, entry)
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in ("very-low", "low", "normal", "high"):
            entry["problems"].append("bad Urgency")
            return answer(400, entry)
        topic = headers.get("topic")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            entry["problems"].append("bad Topic")
            return answer(400, entry)
        if headers.get("content-encoding") != "aes128gcm":
            entry["problems"].append("Content-Encoding is not aes128gcm")
            return answer(415, entry)
        # RFC 8292 3: Authorization: vapid t=<JWT>, k=<key>.
        params = dict(re.findall(r"([tk])=([A-Za-z0-9._=-]+)",
                                 headers.get("authorization", "").partition("vapid ")[2]))
        if not headers.get("authorization", "").startswith("vapid ") or set(params) != {"t", "k"}:
            entry["problems"].append("no vapid authorization")
            return answer(401, entry)
        try:
            key_bytes = b64u_decode(params["k"])
            vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
            claims = jwt.decode(params["t"], vapid_key, algorithms=["ES256"], audience=origin,
                                options={"require": ["aud", "exp", "sub"]})
        except (ValueError, jwt.InvalidTokenError) as e:
            entry["problems"].append("VAPID token refused: %s" % type(e).__name__)
            return answer(401, entry)
        if args.vapid_public and params["k"] != args.vapid_public:
            entry["problems"].append("k is not the key the subscription was made with")
            return answer(403, entry)
        if claims["exp"] > time.time() + 24 * 3600:
            entry["problems"].append("VAPID exp more than 24 hours ahead")
            return answer(401, entry)
        if not (claims["sub"].startswith("mailto:") or claims["sub"].startswith("https:")):
            entry["problems"].append("VAPID sub is not mailto: or https:")
        if urgency is None:
            entry["problems"].append("no Urgency")
        if topic is None:
            entry["problems"].append("no Topic")
        entry["vapid_exp"] = claims["exp"]
        private, public, auth = subscriptions[sub_id]
        try:
            plaintext = webpush_decrypt(body, private, public, auth)
            entry["payload"] = json.loads(plaintext)
        except Exception as e:  # noqa: BLE001 - any failure to open it is the finding
            entry["problems"].append("decryption failed: %s" % type(e).__name__)
            return answer(400, entry)
        status, retry_after, delay, _, location, _ = scripted(script, sub_id, 201)
        extra = [("location", "/message/%s" % b64u(os.urandom(9)))] if status == 201 else []
        if retry_after is not None:
            extra.append(("retry-after", str(retry_after)))
        if location is not None:
            extra.append(("location", location))
        return answer(status, entry, delay, extra)

    return handle


async def serve(args, handler):
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: H2Server(handler), "127.0.0.1", args.port,
                                      ssl=context)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["apns", "fcm", "webpush"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--script")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--key-pem", dest="key_pem")
    parser.add_argument("--key-id", dest="key_id")
    parser.add_argument("--team-id", dest="team_id")
    parser.add_argument("--topic")
    parser.add_argument("--credentials")
    parser.add_argument("--token-ttl", dest="token_ttl", type=int, default=3600)
    parser.add_argument("--subscriptions")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--vapid-public", dest="vapid_public")
    args = parser.parse_args()
    record = Recorder(args.record)
    script = Script(args.script)
    handler = {"apns": apns_handler, "fcm": fcm_handler, "webpush": webpush_handler}[args.mode](
        args, record, script)
    print("push_endpoints %s listening on 127.0.0.1:%d" % (args.mode, args.port), flush=True)
    asyncio.run(serve(args, handler))


if __name__ == "__main__":
    sys.exit(main())
