"""Keys `make run` makes once and keeps in var/, as production would be given them."""

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode


def kept_once(key_file: Path, make) -> str:
    """The key kept in `key_file`, made by `make()` and written whole the first time. Two
    stacks starting at once keep the same one: each writes its own beside the file and
    links it into place, and the one whose link finds a file there reads that one."""
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=key_file.parent, delete=False) as draft:
            draft.write(make())  # mode 0600, as mkstemp makes it
        try:
            os.link(draft.name, key_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft.name)
    return key_file.read_text().strip()


def secret_key(key_file: Path) -> str:
    return kept_once(key_file, lambda: secrets.token_urlsafe(50))


def password(key_file: Path) -> str:
    return kept_once(key_file, lambda: secrets.token_urlsafe(12))


def vapid_keys(key_file: Path) -> dict[str, str]:
    """The Web Push key pair kept in `key_file` (made once, like the secret key): the
    private key as its raw 32 bytes, the public one as the browser's applicationServerKey,
    both base64url."""

    def make() -> str:
        private = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        return urlsafe_base64_encode(private.to_bytes(32, "big"))

    raw = kept_once(key_file, make)
    private_value = int.from_bytes(urlsafe_base64_decode(raw), "big")
    public = ec.derive_private_key(private_value, ec.SECP256R1()).public_key()
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {"VAPID_PRIVATE_KEY": raw, "VAPID_PUBLIC_KEY": urlsafe_base64_encode(point)}
