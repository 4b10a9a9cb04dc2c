"""The device token lives in the OS keyring, per profile, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, fail

from crm_desktop.config import Profile
from crm_desktop.sync.credentials import KeyringUnavailable, TokenStore, service_name

from .conftest import MemoryKeyring


def test_two_profiles_never_share_a_token(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    first, second = Profile(tmp_path / "a"), Profile(tmp_path / "b")
    assert service_name(first) != service_name(second)
    assert service_name(first) == service_name(Profile(tmp_path / "a"))
    TokenStore(first).set("ann", "token-a")
    assert TokenStore(second).get("ann") is None
    assert TokenStore(first).get("ann") == "token-a"
    assert TokenStore(first).delete("ann") is True
    assert TokenStore(first).get("ann") is None
    assert TokenStore(first).delete("ann") is False
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # nothing on disk


class EmptyChain(chainer.ChainerBackend):
    """What keyring builds on a headless machine with no backend to chain."""

    backends = []  # type: ignore[assignment]  # noqa: RUF012


@pytest.mark.parametrize("backend", [fail.Keyring(), EmptyChain()])
def test_no_usable_keyring_names_the_way_out(tmp_path: Path, backend: object) -> None:
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    with pytest.raises(KeyringUnavailable) as raised:
        TokenStore(Profile(tmp_path)).set("ann", "secret")
    assert "PYTHON_KEYRING_BACKEND" in str(raised.value)
    assert "keyringrc.cfg" in str(raised.value)
    assert not any(tmp_path.rglob("*"))
