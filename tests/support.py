"""Helpers shared by the tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

Route = Callable[[SimpleHTTPRequestHandler], None]


@dataclass
class Server:
    """A running server: files in `root` are served, `routes` override single paths."""

    root: Path
    base: str = ""
    requests: list[str] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
