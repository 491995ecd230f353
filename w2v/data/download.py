"""Download a file over HTTP(S) with retries, timeouts, a progress bar and an atomic rename."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from w2v.atomic import atomic_path
from w2v.errors import W2VError

CHUNK_BYTES = 1 << 20
BACKOFF_FACTOR = 0.5
RETRY_STATUSES = (500, 502, 503, 504)
HINT = "check the URL and the network connection"


class _Truncated(Exception):
    """The server closed the connection before sending the whole body."""


def fetch(
    url: str,
    dest: Path,
    *,
    timeout: tuple[float, float] = (10, 60),
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Download `url` to `dest`; `dest` appears only once the whole body has arrived.

    `timeout` is (connect, read) in seconds. Connection failures and 5xx answers are retried
    `retries` times with exponential backoff. Every failure raises `W2VError`.
    """
    dest = Path(dest)
    try:
        with _session(retries) as session, session.get(url, stream=True, timeout=timeout) as resp:
            resp.raise_for_status()
            with atomic_path(dest) as tmp:
                _save_body(resp, tmp, desc=dest.name, progress=progress)
    except (requests.RequestException, _Truncated) as exc:
        raise W2VError(f"cannot download {url}: {_reason(exc)}; {HINT}") from exc
    except OSError as exc:
        raise W2VError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest


def _session(retries: int) -> requests.Session:
    retry = Retry(total=retries, backoff_factor=BACKOFF_FACTOR, status_forcelist=RETRY_STATUSES)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _save_body(resp: requests.Response, path: Path, *, desc: str, progress: bool) -> None:
    length = resp.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    bar = tqdm(
        total=expected,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
    )
    with bar, open(path, "wb") as out:
        for block in resp.iter_content(CHUNK_BYTES):
            out.write(block)
            bar.update(len(block))
    # urllib3 already refuses a short body; this guards against a transport that does not.
    # tell() counts bytes on the wire, which is what Content-Length describes even when the
    # body was content-encoded.
    received = resp.raw.tell()
    if expected is not None and received < expected:
        raise _Truncated(f"connection closed after {received:,} of {expected:,} bytes")


def _reason(exc: BaseException) -> str:
    """A short, one-line explanation of a download failure."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"the server answered HTTP {exc.response.status_code} {exc.response.reason}"
    chain = [exc, *_causes(exc)]
    root = chain[-1]
    if isinstance(root, OSError) and root.strerror:
        return root.strerror.lower()  # refused, reset, unknown host...
    if _any_of(chain, requests.ConnectTimeout):
        return "timed out while connecting"
    if _any_of(chain, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        return "timed out waiting for data"
    text = " ".join(str(root).split()) or type(root).__name__
    if _any_of(chain, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
        return f"the connection closed before the whole file arrived ({text})"
    return text


def _any_of(chain: list[BaseException], *kinds: type[BaseException]) -> bool:
    return any(isinstance(exc, kinds) for exc in chain)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions that requests and urllib3 wrap around each other, outermost first."""
    seen = {id(exc)}
    while True:
        candidates = (getattr(exc, "reason", None), *exc.args, exc.__cause__, exc.__context__)
        inner = next((c for c in candidates if isinstance(c, BaseException)), None)
        if inner is None or id(inner) in seen:
            return
        seen.add(id(inner))
        yield inner
        exc = inner
