"""nftables in-process: a small ctypes binding of libnftables.so.1 (Debian ``libnftables1``).

Owns: one libnftables context per adapter, bound to the adapter's host netns, and the translation
of nft's error text into ``KernelError``. Must not: exec ``nft`` (10-25x slower), use the JSON
API (nft 1.0.6 cannot declare concatenated-data maps in JSON and crashes on the result), or touch
tables other than those in the scripts it is handed.

A context opens its netlink socket when it is created, so a context created while the thread is
inside a netns keeps acting on that netns from any thread afterwards.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any

from berth.kernel.netns import in_netns
from berth.model.errors import KernelError

LIBRARY = "libnftables.so.1"


@functools.cache
def _load(name: str) -> Any:
    lib = ctypes.CDLL(name, use_errno=True)
    ctx = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_new.restype = ctx
    lib.nft_ctx_free.argtypes = [ctx]
    lib.nft_ctx_free.restype = None
    for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        getattr(lib, fn).argtypes = [ctx]
        getattr(lib, fn).restype = ctypes.c_int
    for fn in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, fn).argtypes = [ctx]
        getattr(lib, fn).restype = ctypes.c_char_p
    lib.nft_run_cmd_from_buffer.argtypes = [ctx, ctypes.c_char_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    return lib


class LibNftables:
    """``Nftables`` for one host netns (``host_ns`` path, or None for the calling thread's)."""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns
        self._lock = threading.Lock()
        try:
            self._lib = _load(LIBRARY)
        except OSError as err:
            raise KernelError(f"load {LIBRARY} (install libnftables1)", err) from err
        with in_netns(host_ns):
            ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise KernelError(f"create an nftables context in {host_ns or 'the host netns'}")
        if self._lib.nft_ctx_buffer_output(ctx) or self._lib.nft_ctx_buffer_error(ctx):
            self._lib.nft_ctx_free(ctx)
            raise KernelError("buffer nftables output")
        self._ctx: int | None = ctx

    def run(self, script: str) -> str:
        with self._lock:
            if self._ctx is None:
                raise KernelError("nftables context is closed")
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
            # Reading a buffer also rewinds it for the next command, so always read both.
            output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
            error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            where = self._host_ns or "the host netns"
            raise KernelError(f"nft script failed in {where} (nothing applied): {error.strip()}")
        return output

    def close(self) -> None:
        """Free the context (the adapter is unusable afterwards)."""
        with self._lock:
            if self._ctx is not None:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None
