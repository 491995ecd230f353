"""Shared fixtures: a real HTTP server on loopback; hypothesis runs reproducibly."""

from __future__ import annotations

import os

# The suite expects what a CPU does (reruns bit-identical, gloo, the CPU defaults), also where
# there is a GPU; the GPU's own checks are in test_cuda.py: W2V_TEST_GPU=1 pytest tests/test_cuda.py
if os.environ.get("W2V_TEST_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sample_vectors import structured_vectors
from support import Server

from w2v.vectors import Vectors

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis runs reproducibly. (Where the dev extras are missing, as on a bare GPU
    machine, the tests that need neither hypothesis nor gensim still run.)"""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("w2v", derandomize=True, database=None, deadline=None)
    settings.load_profile("w2v")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "served"
    root.mkdir()
    state = Server(root)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                super().do_GET()
            else:
                route(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.txt"


@pytest.fixture(scope="session")
def vectors() -> Vectors:
    return structured_vectors()


@pytest.fixture(scope="session")
def gensim_kv(vectors: Vectors) -> KeyedVectors:
    from sample_vectors import as_gensim

    return as_gensim(vectors)
