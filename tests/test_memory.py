"""The arena cap of a serving process: glibc gives each new thread an arena of its own unless
capped, and a served worker's request threads grew it by about 120 MB (docs/benchmarks.md)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

from server.serving import limit_malloc_arenas

# A child process: optionally cap the arenas, let eight threads allocate, count the heaps
# glibc reports (one <heap> element per arena in malloc_info's XML).
_CHILD = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, tempfile, threading
    from server.serving import limit_malloc_arenas
    if sys.argv[1] != "0":
        assert limit_malloc_arenas(int(sys.argv[1]))
    barrier = threading.Barrier(8)
    def work():
        barrier.wait()  # all alive at once, so each needs an arena while the others hold one
        keep = [bytearray(200) for _ in range(2000)]
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        handle = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        print(open(out.name).read().count("<heap nr="))
    """
)

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="glibc's mallopt and malloc_info",
)


def _heaps(cap: int) -> int:
    env = {"PYTHONPATH": ".", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cap)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    return int(out.stdout.strip())


@glibc
def test_the_arena_cap_holds_for_threads_started_after_it() -> None:
    assert _heaps(0) > 2  # glibc's default: threads get arenas of their own
    assert _heaps(2) <= 2


def test_zero_keeps_the_default() -> None:
    assert limit_malloc_arenas(0) is False
