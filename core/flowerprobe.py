"""Flower's probe: `python -m core.flowerprobe` asks Flower's /healthcheck on this host with
the first FLOWER_BASIC_AUTH pair, as the kubelet and compose's healthcheck cannot (Flower's
pages, /healthcheck included, want credentials: worker/compat/flower.py). Exit 0 on
Flower's "OK", 1 with one line otherwise. FLOWER_PORT (5555) and FLOWER_URL_PREFIX as
Flower reads them; it imports no Django and no Celery."""

import base64
import os
import sys
import urllib.request

TIMEOUT_SECONDS = 3  # within the probes' timeoutSeconds (5), so the answer is ours


def flower_healthcheck() -> str | None:
    """None when Flower answers OK, else what went wrong."""
    pair = os.environ.get("FLOWER_BASIC_AUTH", "").split(",")[0].strip()
    if not pair:
        return "FLOWER_BASIC_AUTH is not set"
    port = os.environ.get("FLOWER_PORT", "").strip() or "5555"
    prefix = os.environ.get("FLOWER_URL_PREFIX", "").strip("/ ")
    url = f"http://127.0.0.1:{port}/{prefix + '/' if prefix else ''}healthcheck"
    request = urllib.request.Request(
        url, headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(100)
    except OSError as exc:  # refused, timed out, 401 (urllib's errors are OSErrors)
        return f"{url}: {exc}"
    return None if body == b"OK" else f"{url}: answered {body!r}"


if __name__ == "__main__":
    problem = flower_healthcheck()
    if problem:
        print(f"flower: {problem}", file=sys.stderr)
    sys.exit(1 if problem else 0)
