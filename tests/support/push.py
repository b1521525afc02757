"""Web Push as a browser and a push service see it: the browser's keys, a server's VAPID
keys, and a push service of the tests' own that checks and decrypts what it gets."""

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass

# The runner's own helpers: tests start Redis the way `make run` does.
from devstack.stack import free_port


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class BrowserKeys:
    """What a browser's PushManager.subscribe makes: a P-256 key pair and an auth secret."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        point = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(point)
        self.auth_secret = os.urandom(16)
        self.auth = b64url(self.auth_secret)

    def subscription(self, endpoint: str) -> dict:
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def vapid_key_pair() -> tuple[str, str]:
    """(private, public): a server's VAPID keys as settings hold them."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url(private), b64url(public)


@dataclass
class PushRequest:
    path: str
    headers: dict
    payload: dict | None  # decrypted, when the browser keys could decrypt it
    vapid_claims: dict | None  # verified


class PushService:
    """A push service of the tests' own, on loopback (aiohttp, in a thread): it checks each
    request's VAPID JWT (ES256, against the key the request names and the key the server
    is expected to have), decrypts its aes128gcm body with the browser's private key, and
    answers what the test queued (201 when nothing is)."""

    def __init__(self, browser: BrowserKeys, vapid_public_key: str):
        self.browser = browser
        self.vapid_public_key = vapid_public_key
        self.port = free_port()
        self.requests: list[PushRequest] = []
        self.answers: list[tuple[int, dict]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = None

    def endpoint(self, name: str = "device-1") -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    def answer(self, status: int, **headers) -> None:
        self.answers.append((status, headers))

    def __enter__(self):
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/push/{name}", self._handle)
        self.runner = web.AppRunner(app)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self):
        from aiohttp import web

        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _handle(self, request):
        from aiohttp import web

        body = await request.read()
        claims = self._verified_claims(request.headers.get("Authorization", ""))
        payload = None
        if claims is not None:
            import http_ece

            try:
                payload = json.loads(
                    http_ece.decrypt(
                        body,
                        private_key=self.browser.private_key,
                        auth_secret=self.browser.auth_secret,
                        version="aes128gcm",
                    )
                )
            except Exception:
                payload = None
        self.requests.append(PushRequest(request.path, dict(request.headers), payload, claims))
        if claims is None:
            return web.Response(status=401, text="bad VAPID")
        if payload is None:
            return web.Response(status=400, text="cannot decrypt")
        status, headers = self.answers.pop(0) if self.answers else (201, {})
        return web.Response(status=status, headers=headers)

    def _verified_claims(self, authorization: str) -> dict | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        scheme, _, params = authorization.partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
        if scheme != "vapid" or fields.get("k") != self.vapid_public_key:
            return None
        try:
            header, claims, signature = fields["t"].split(".")
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b64url_decode(fields["k"])
            )
            raw = b64url_decode(signature)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
            decoded = json.loads(b64url_decode(claims))
        except (KeyError, ValueError, InvalidSignature):
            return None
        origin = f"http://127.0.0.1:{self.port}"
        if decoded.get("aud") != origin or decoded.get("exp", 0) < time.time():
            return None
        return decoded


def browser_push_stand_in(subscription: dict, *, unsubscribe_hangs: bool = False) -> str:
    """A Playwright init script: the page's PushManager hands out `subscription` (which a
    PushService can decrypt for) and remembers it in localStorage until it is unsubscribed,
    as a browser would; or never answers the unsubscribe (a push service out of reach).
    Headless Chromium has no push service to subscribe with."""
    return """(() => {
      const KEY = "tests.push-subscription", SUBSCRIPTION = JSON_HERE, HANGS = HANGS_HERE;
      const held = () => localStorage.getItem(KEY) === null ? null : {
        endpoint: SUBSCRIPTION.endpoint,
        toJSON: () => SUBSCRIPTION,
        unsubscribe: () => HANGS ? new Promise(() => {})
          : (localStorage.removeItem(KEY), Promise.resolve(true)),
      };
      PushManager.prototype.subscribe = async () => {
        localStorage.setItem(KEY, "1");
        return held();
      };
      PushManager.prototype.getSubscription = async () => held();
    })();""".replace("JSON_HERE", json.dumps(subscription)).replace(
        "HANGS_HERE", json.dumps(unsubscribe_hangs)
    )
