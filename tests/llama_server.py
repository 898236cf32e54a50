"""llama.cpp's llama-server for tests: built once from the llama-cpp-python sdist, served on loopback.

The sdist that `make setup` compiles carries llama.cpp's whole tree, the server included. The binary is
cached per version, machine type and flags under ~/.cache/forge/llama-server/, so only the first run
on a machine pays the build (minutes on two cores). `python tests/llama_server.py` builds it ahead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

VERSION = "0.3.36"  # the Makefile's LLAMA_CPP_VERSION
# Portable (a -march=native build segfaulted in this sandbox), only the server, and no web UI fetched
# from a hub: nothing outside is reachable here.
CMAKE_ARGS = [
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
]


def cache_dir() -> Path:
    key = hashlib.sha256(" ".join(CMAKE_ARGS).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "forge" / "llama-server" / f"{VERSION}-{platform.machine()}-{key}"


def binary() -> Path:
    """The cached llama-server, built first when missing (one builder at a time per machine)."""
    target = cache_dir() / "llama-server"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _build(target)
    return target


def _build(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="llama-server-build-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                f"llama-cpp-python=={VERSION}",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(work),
            ],
            check=True,
        )
        sdist = next(work.glob("llama_cpp_python-*.tar.gz"))
        prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
        with tarfile.open(sdist) as tar:
            tar.extractall(work, members=[m for m in tar.getmembers() if m.name.startswith(prefix)], filter="data")
        src, build = work / prefix, work / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(
            ["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", *generator, *CMAKE_ARGS],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        built = next(build.rglob("llama-server"))
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        os.replace(partial, target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, ctx: int = 8192, log: Path | None = None, extra: list[str] | None = None) -> Iterator[str]:
    """Serve `model` with tool use (--jinja) on a free loopback port; yields the base URL."""
    port = _free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            str(binary()),
            "-m",
            str(model),
            "--jinja",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            str(ctx),
            "-t",
            str(os.cpu_count() or 2),
            "--no-webui",
            # greedy by default: the Messages API of this version takes no temperature, and the
            # tests should see one answer per prompt
            "--temp",
            "0",
            "--seed",
            "1",
            *(extra or []),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {proc.returncode} before it was ready (log: {log})")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-server was not ready in 120 s (log: {log})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    print(binary())
