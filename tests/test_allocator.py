import subprocess
import sys

import pytest

# Run in a fresh interpreter: the thresholds are process-wide and cannot be unset.
PROBE = """
import ctypes, sys
import numpy as np
from w2v.data.allocator import keep_block_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "set":
    assert keep_block_memory()
before = libc.mallinfo2()
block = np.ones(3 << 20, dtype=np.uint8)
during = libc.mallinfo2()
del block
after = libc.mallinfo2()
print(during.hblkhd - before.hblkhd, during.arena - before.arena, during.arena - after.arena)
"""


def heap_use(mode: str) -> tuple[int, int, int]:
    """For a 3 MB array: (bytes in pages of its own, heap grown for it, heap handed back
    when it is freed)."""
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout
    mapped, grown, handed_back = map(int, out.split())
    return mapped, grown, handed_back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_block_arrays_stay_on_the_heap_and_the_heap_is_kept() -> None:
    mapped, _, _ = heap_use("default")
    assert mapped >= 3 << 20  # glibc's default: a fresh mapping, handed back on free

    mapped, grown, handed_back = heap_use("set")
    assert mapped == 0 and grown > 0
    assert handed_back == 0  # kept for the next block: no new page faults
