"""Session fixtures: the tiny real model of backtranslate.testing, an adapter trained on it, and
a private BACKTRANSLATE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backtranslate.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A backward-model adapter folder written by `train` (2 steps on the shipped seed)."""
    from backtranslate.config import TrainConfig
    from backtranslate.seed import load_seed
    from backtranslate.train import train

    out = tmp_path_factory.mktemp("adapter")
    train(TrainConfig(model=str(tiny_model_dir), output_dir=str(out), max_steps=2, batch_size=4,
                      max_length=320, precision="fp32"), seed=load_seed("default"))
    return out


@pytest.fixture()
def bt_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private BACKTRANSLATE_HOME so no test reads or fills the user's cache."""
    home = tmp_path / "bt-home"
    monkeypatch.setenv("BACKTRANSLATE_HOME", str(home))
    return home
