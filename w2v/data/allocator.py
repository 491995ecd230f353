"""How the C allocator treats the arrays of a block of text, in `prepare` and its workers.

Each block's arrays (a few of about a megabyte each) are freed as soon as the block is done. By
default glibc hands freed memory back to the system and takes it again for the next block, one
page fault per 4 KB: three times the page faults and 5 s more system time on a 612 MB corpus.
Fixed thresholds keep up to TRIM_BYTES of free memory for the next block and put only arrays of
MMAP_BYTES or more in pages of their own (glibc would otherwise raise that limit as it goes, and
the free memory it then keeps grows with the largest array freed). BENCHMARKS.md, "Preparing
large corpora", has the measurements. The setting is process-wide: a program that calls
`w2v.prepare` keeps it afterwards, which costs it at most TRIM_BYTES of idle memory.
"""

from __future__ import annotations

import ctypes
import platform

TRIM_BYTES = 16 << 20
MMAP_BYTES = 4 << 20
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3


def keep_block_memory() -> bool:
    """Set the thresholds (glibc only); True where they were set."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
                and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES))
