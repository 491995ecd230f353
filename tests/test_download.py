import hashlib
import time
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from support import Server

from w2v.data.checksum import sha256_file
from w2v.data.download import fetch
from w2v.errors import W2VError

PAYLOAD = np.random.default_rng(0).bytes(300_000)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_writes_identical_bytes(server: Server, tmp_path: Path) -> None:
    (server.root / "blob.bin").write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "blob.bin"

    assert fetch(server.url("blob.bin"), dest, progress=False) == dest

    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["blob.bin"]
    assert server.requests == ["/blob.bin"]


def test_404_is_a_one_line_error(server: Server, tmp_path: Path) -> None:
    url = server.url("missing.zip")
    with pytest.raises(W2VError) as info:
        fetch(url, tmp_path / "missing.zip", progress=False)

    message = str(info.value)
    assert url in message and "404" in message and "check the URL" in message
    assert "\n" not in message
    assert not (tmp_path / "missing.zip").exists()


def test_connection_refused(closed_port_url: str, tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="connection refused") as info:
        fetch(closed_port_url, tmp_path / "file.txt", retries=0, progress=False)

    assert closed_port_url in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path) == []


def test_body_shorter_than_content_length_is_an_error(server: Server, tmp_path: Path) -> None:
    def cut_short(handler: SimpleHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"x" * 100)
        handler.close_connection = True

    server.routes["/cut.zip"] = cut_short
    with pytest.raises(W2VError, match="closed before the whole file arrived"):
        fetch(server.url("cut.zip"), tmp_path / "dl" / "cut.zip", retries=0, progress=False)

    assert leftovers(tmp_path / "dl") == []


def test_server_errors_are_retried(server: Server, tmp_path: Path) -> None:
    (server.root / "flaky.txt").write_bytes(b"finally\n")
    failures = []

    def fail_once(handler: SimpleHTTPRequestHandler) -> None:
        if not failures:
            failures.append(1)
            handler.send_error(503)
        else:
            SimpleHTTPRequestHandler.do_GET(handler)

    server.routes["/flaky.txt"] = fail_once
    dest = fetch(server.url("flaky.txt"), tmp_path / "flaky.txt", retries=1, progress=False)

    assert dest.read_bytes() == b"finally\n"
    assert server.requests == ["/flaky.txt", "/flaky.txt"]


def test_persistent_server_error(server: Server, tmp_path: Path) -> None:
    server.routes["/broken"] = lambda handler: handler.send_error(500)
    with pytest.raises(W2VError, match="500"):
        fetch(server.url("broken"), tmp_path / "dl" / "broken", retries=1, progress=False)

    assert len(server.requests) == 2
    assert leftovers(tmp_path / "dl") == []


def test_read_timeout(server: Server, tmp_path: Path) -> None:
    server.routes["/slow"] = lambda handler: time.sleep(1)
    with pytest.raises(W2VError, match="timed out"):
        fetch(server.url("slow"), tmp_path / "slow", timeout=(5, 0.2), retries=0, progress=False)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path) == hashlib.sha256(PAYLOAD).hexdigest()
