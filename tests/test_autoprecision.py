"""precision=auto on a CPU: measured once per CPU and encoder shape, cached, never slower than fp32."""

from __future__ import annotations

import json

import pytest

from multinerd import hardware
from multinerd.model import autoprecision, backends
from multinerd.model.autoprecision import MIN_SPEEDUP, EncoderShape, cache_path, cpu_verdict

SHAPE = EncoderShape(hidden=384, intermediate=1536, heads=12, layers=6)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(hardware.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / autoprecision.CACHE_FILE


@pytest.fixture()
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.setattr(hardware, "cpu_name", lambda: "Test CPU 9000")


def measured(monkeypatch, speedup: float) -> list[EncoderShape]:
    """Make the measurement return ``speedup``; the returned list records each shape measured."""
    calls: list[EncoderShape] = []

    def fake(shape: EncoderShape) -> float:
        calls.append(shape)
        return speedup

    monkeypatch.setattr(autoprecision, "measure_bf16_speedup", fake)
    return calls


def test_a_cpu_without_bf16_flags_gets_fp32_without_measuring(cache, monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    calls = measured(monkeypatch, 5.0)
    verdict = cpu_verdict(SHAPE)
    assert verdict.precision == "fp32" and calls == []
    assert "no avx512_bf16 or amx_bf16 flag" in verdict.line() and "not measured" in verdict.reason
    assert verdict.line().startswith("precision auto -> fp32: ")
    assert not cache.exists()


def test_bf16_slower_than_fp32_is_not_chosen_and_the_verdict_is_cached(cache, bf16_cpu, monkeypatch):
    calls = measured(monkeypatch, 0.42)
    verdict = cpu_verdict(SHAPE)
    assert verdict.precision == "fp32" and verdict.bf16_speedup == 0.42 and not verdict.cached
    assert "bf16 measured 0.42x fp32 on Test CPU 9000 (avx512_bf16)" in verdict.line()
    assert calls == [SHAPE]
    stored = json.loads(cache.read_text())
    (key,) = stored
    assert key.startswith("Test CPU 9000|avx512_bf16|torch ") and key.endswith(SHAPE.key())
    again = cpu_verdict(SHAPE)  # from the cache: no second measurement
    assert calls == [SHAPE] and again.cached and again.precision == "fp32" and "cached in" in again.reason


def test_bf16_faster_by_the_margin_is_chosen_once_per_shape(cache, bf16_cpu, monkeypatch):
    calls = measured(monkeypatch, 1.8)
    assert cpu_verdict(SHAPE).precision == "bf16"
    bigger = EncoderShape(hidden=768, intermediate=3072, heads=12, layers=12)
    assert cpu_verdict(bigger).precision == "bf16"
    assert calls == [SHAPE, bigger] and len(json.loads(cache.read_text())) == 2


def test_a_gain_inside_the_noise_margin_keeps_fp32(cache, bf16_cpu, monkeypatch):
    measured(monkeypatch, MIN_SPEEDUP - 0.01)
    assert cpu_verdict(SHAPE).precision == "fp32"


def test_a_corrupt_cache_is_measured_again(cache, bf16_cpu, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    calls = measured(monkeypatch, 2.0)
    assert cpu_verdict(SHAPE).precision == "bf16" and len(calls) == 1


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(hardware.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path() == tmp_path / "xdg" / "multinerd" / "precision.json"
    monkeypatch.setenv(hardware.CACHE_ENV, str(tmp_path / "mine"))
    assert cache_path() == tmp_path / "mine" / "precision.json"


def test_resolve_precision_measures_the_models_own_shape(cache, bf16_cpu, monkeypatch):
    from transformers import BertConfig

    calls = measured(monkeypatch, 0.5)
    config = BertConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=3)
    assert backends.choose_precision("auto", "cpu", config)[0] == "fp32"
    assert calls == [EncoderShape(64, 128, 4, 3)]


def test_the_measurement_times_both_formats_on_a_small_encoder():
    speedup = autoprecision.measure_bf16_speedup(EncoderShape(32, 64, 2, 1), widths=(8, 16))
    assert 0.0 < speedup < 100.0
