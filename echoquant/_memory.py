"""Allocator settings for the processes that generate and analyse loops.

Generating or measuring one frame allocates and frees arrays of a few megabytes many
times over. glibc's allocator serves blocks that large with ``mmap`` and gives freed heap
back to the system, so every frame pays page faults to get zeroed memory again: about
a sixth of the CPU time of ``echoquant demo`` was spent in the kernel this way. Keeping
freed memory in the process for reuse removes most of it; results do not change (only
where the bytes live does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The largest mmap threshold glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2).
_MMAP_THRESHOLD_BYTES = 32 << 20
_TRIM_THRESHOLD_BYTES = 1 << 30
_OPT_OUT = "ECHOQUANT_SYSTEM_MALLOC"


def keep_freed_memory() -> bool:
    """Ask glibc to serve blocks up to 32 MB from the heap and to keep up to 1 GB of
    freed heap for reuse (a process's resident memory then stays near its peak).

    A no-op off Linux/glibc, or when the environment variable ``ECHOQUANT_SYSTEM_MALLOC``
    is set (to keep the allocator's defaults).

    Returns:
        True when the settings were applied.
    """
    if not sys.platform.startswith("linux") or os.environ.get(_OPT_OUT):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)) and bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))
