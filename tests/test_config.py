from pathlib import Path

import pytest

from backtranslate.config import SECTIONS, GenerateConfig, TrainConfig, load_yaml, resolve
from backtranslate.errors import UserError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_configs_folder_has_cpu_demo_and_a_gpu_preset():
    names = [p.name for p in CONFIGS]
    assert "cpu-demo.yaml" in names
    assert any(n.startswith("gpu-") for n in names)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    for section, cls in SECTIONS.items():
        if section in load_yaml(path):
            cfg = resolve(cls, str(path), {})
            assert isinstance(cfg, cls)


def test_flags_override_yaml_and_yaml_overrides_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lora_r: 4\n  epochs: 2\n  lora_target_modules: [q_proj, v_proj]\n")
    cfg = resolve(TrainConfig, str(path), {"epochs": 5.0, "learning_rate": None})
    assert cfg.lora_r == 4 and cfg.epochs == 5.0
    assert cfg.lora_target_modules == "q_proj,v_proj"
    assert cfg.learning_rate == TrainConfig().learning_rate


def test_unknown_keys_and_bad_types_are_reported_together(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lora_rank: 4\n  epochs: many\n")
    with pytest.raises(UserError) as e:
        resolve(TrainConfig, str(path), {})
    assert "unknown key 'lora_rank'" in str(e.value) and "'epochs' must be a number" in str(e.value)


def test_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trian:\n  epochs: 1\n")
    with pytest.raises(UserError, match="unknown section"):
        resolve(TrainConfig, str(path), {})


def test_value_checks(tmp_path):
    with pytest.raises(UserError, match="val_fraction must be in"):
        resolve(TrainConfig, None, {"val_fraction": 1.5})
    with pytest.raises(UserError, match="precision must be one of"):
        resolve(TrainConfig, None, {"precision": "int8"})


def test_missing_config_file():
    with pytest.raises(UserError, match="does not exist"):
        resolve(TrainConfig, "no/such.yaml", {})


def test_decoding_is_greedy_for_one_candidate_and_sampled_for_several():
    assert GenerateConfig(num_candidates=1).use_greedy
    assert GenerateConfig().use_greedy and GenerateConfig().num_candidates == 1
    assert GenerateConfig(greedy=True).num_candidates == 1
    assert not GenerateConfig(num_candidates=4).use_greedy
    assert not GenerateConfig(greedy=False).use_greedy
    assert "greedy decoding gives one candidate" in " ".join(GenerateConfig(greedy=True, num_candidates=2).validate())


def test_list_fields_take_a_yaml_list_or_one_value_and_flags_replace_them(tmp_path):
    from backtranslate.config import GenerateConfig

    path = tmp_path / "c.yaml"
    path.write_text("generate:\n  decontaminate: [gsm8k-test.jsonl, cais/mmlu:all]\n")
    assert resolve(GenerateConfig, str(path), {}).decontaminate == ["gsm8k-test.jsonl", "cais/mmlu:all"]
    assert resolve(GenerateConfig, str(path), {"decontaminate": ()}).decontaminate[0] == "gsm8k-test.jsonl"
    assert resolve(GenerateConfig, str(path), {"decontaminate": ("mine.jsonl",)}).decontaminate == ["mine.jsonl"]
    path.write_text("generate:\n  decontaminate: gsm8k-test.jsonl\n")
    assert resolve(GenerateConfig, str(path), {}).decontaminate == ["gsm8k-test.jsonl"]
    path.write_text("generate:\n  decontaminate: [{a: 1}]\n")
    with pytest.raises(UserError, match="'decontaminate' must be a list of text values"):
        resolve(GenerateConfig, str(path), {})


def test_generate_value_checks():
    from backtranslate.config import GenerateConfig

    with pytest.raises(UserError) as e:
        resolve(GenerateConfig, None, {"email_mode": "threads", "format": "alpaca,chatml", "decontaminate_ngram": 3})
    assert "email_mode must be message or thread" in str(e.value)
    assert "unknown format(s) chatml" in str(e.value) and "decontaminate_ngram must be at least 5" in str(e.value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_runs_through_every_command_it_configures(path):
    """Each YAML section through its command's real CLI signature (--config, --dry-run): the
    resolved config comes back as YAML, with nothing run."""
    import yaml
    from typer.testing import CliRunner

    from backtranslate.cli import app

    for section in load_yaml(path):
        result = CliRunner().invoke(app, [section, "--config", str(path), "--dry-run"])
        assert result.exit_code == 0, (section, result.output)
        assert section in yaml.safe_load(result.output)


def test_every_command_with_settings_is_a_config_command():
    """One way to define a command: every command that takes settings has a config dataclass,
    a YAML section, --config and --dry-run."""
    from typer.testing import CliRunner

    from backtranslate.cli import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands} - {"version"}
    assert commands - {"plan"} == set(SECTIONS)  # plan reads generate's section: it plans that run
    for name in commands:
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "--dry-run" in result.output and "--config" in result.output, name


def test_decoding_defaults_are_shared_by_eval_and_generate():
    from backtranslate.config import EvalConfig

    for key in ("temperature", "top_p", "max_new_tokens", "batch_size", "random_seed", "precision", "backend"):
        assert getattr(EvalConfig(), key) == getattr(GenerateConfig(), key), key
