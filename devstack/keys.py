"""Keys `make run` makes once and keeps in var/, as production would be given them."""

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def vapid_keys(key_file: Path) -> dict[str, str]:
    """The Web Push key pair kept in `key_file` (made once, like the secret key): the
    private key as its raw 32 bytes, the public one as the browser's applicationServerKey,
    both base64url."""
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        private = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        key_file.write_text(_b64url(private.to_bytes(32, "big")))
    raw = key_file.read_text().strip()
    private_value = int.from_bytes(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), "big")
    public = ec.derive_private_key(private_value, ec.SECP256R1()).public_key()
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {"VAPID_PRIVATE_KEY": raw, "VAPID_PUBLIC_KEY": _b64url(point)}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
