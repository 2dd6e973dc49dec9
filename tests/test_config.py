import pytest

from multinerd.config import Config, ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file():
    config = load_config()
    assert isinstance(config, Config)
    assert config.data.source == "sample"
    assert config.train.precision == "auto"


def test_yaml_then_overrides_win(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 2\n  batch_size: 8\nmodel:\n  name: x\n")
    config = load_config(path, ["train.epochs=5", "data.types=PER,LOC", "data.source=conll:/tmp/d"])
    assert config.train.epochs == 5.0
    assert config.train.batch_size == 8
    assert config.data.types == ["PER", "LOC"]
    assert config.data.source == "conll:/tmp/d"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epoch=2"], "train.epoch"),
        (["nosection.key=1"], "nosection"),
        (["train.batch_size=big"], "train.batch_size must be an integer"),
        (["train.batch_size=0"], "train.batch_size must be at least 1"),
        (["train.precision=fp8"], "train.precision must be one of"),
        (["data.repair_iob2=maybe"], "data.repair_iob2 must be true or false"),
        (["train.warmup_ratio=1.5"], "warmup_ratio"),
        (["train.epochs"], "KEY=VALUE"),
    ],
)
def test_bad_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_errors_in_a_file_name_the_file(tmp_path):
    path = write(tmp_path, "train:\n  learning_rate: fast\n")
    with pytest.raises(ConfigError, match=r"c\.yaml.*train\.learning_rate"):
        load_config(path)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [unclosed\n"))


def test_none_clears_an_optional_setting():
    assert load_config(None, ["data.types=PER", "data.types=null"]).data.types is None
    assert load_config(None, ["train.eval_steps=None"]).train.eval_steps is None


def test_round_trip_through_yaml(tmp_path):
    config = load_config(None, ["train.seed=7", "data.b_types=PER,ORG"])
    again = load_config(write(tmp_path, config.to_yaml()))
    assert again == config


def test_shipped_configs_load_with_every_value_they_set():
    from pathlib import Path

    import yaml

    paths = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        config = load_config(path)
        for section, values in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            if not isinstance(values, dict):
                assert getattr(config, section) == values, f"{path.name}: {section}"
                continue
            for key, value in values.items():
                assert getattr(getattr(config, section), key) == value, f"{path.name}: {section}.{key}"


def test_attention_dropout_is_optional_and_typed():
    assert load_config().model.attention_dropout is None
    assert load_config(None, ["model.attention_dropout=0"]).model.attention_dropout == 0.0
    with pytest.raises(ConfigError, match="model.attention_dropout"):
        load_config(None, ["model.attention_dropout=none-at-all"])
