"""The arena cap of a serving process: glibc gives each new thread an arena of its own unless
capped, and a served worker's request threads grew it by about 120 MB (docs/benchmarks.md)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from server.serving import limit_malloc_arenas

# A child process counts glibc's arenas (one <heap> element each in malloc_info's XML),
# optionally caps them, lets eight threads allocate at once and counts again. Importing the
# advisor's package starts threads that may have made arenas already: those stay, so the test
# compares the count after the cap with the count before it.
_CHILD = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from server.serving import limit_malloc_arenas
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    def heaps():
        with tempfile.NamedTemporaryFile(suffix=".xml") as out:
            handle = libc.fopen(out.name.encode(), b"w")
            libc.malloc_info(0, handle)
            libc.fclose(handle)
            return open(out.name).read().count("<heap nr=")
    before = heaps()
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
    print(before, heaps())
    """
)

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


def _heaps(cap: int) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cap)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ".", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    before, after = out.stdout.split()
    return int(before), int(after)


@glibc
def test_the_arena_cap_holds_for_threads_started_after_it() -> None:
    before, after = _heaps(0)
    assert after > max(before, 2)  # glibc's default: the threads get arenas of their own
    before, after = _heaps(2)
    assert after <= max(before, 2)  # capped: none beyond the cap (or those already there)


def test_zero_keeps_the_default() -> None:
    assert limit_malloc_arenas(0) is False
