"""``bench/predict_corpus.py``: the estimate on paper, the generated sections, and the README kept true."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import predict_corpus

RESULT = BENCH / "results" / "predict_corpus.json"


def test_a_billion_sentences_on_paper_follow_from_the_per_actor_rate():
    rows = predict_corpus.paper(per_actor_rate=100.0, startup=36.0)
    one = rows[0]
    cores = predict_corpus.PAPER["cpu_node_vcpus"]
    assert one["nodes"] == 1 and one["sentences_per_s"] == 100.0 * cores
    assert one["hours"] == pytest.approx((1e9 / (100.0 * cores) + 36.0) / 3600)
    assert one["usd"] == pytest.approx(one["hours"] * predict_corpus.PAPER["cpu_node_usd_per_hour"])
    assert rows[1]["hours"] < one["hours"] / 9  # ten nodes: about a tenth of the time


def test_the_section_says_when_results_are_missing():
    assert "predict_corpus.json` is missing" in "\n".join(predict_corpus.markdown(None))


@pytest.mark.skipif(not RESULT.exists(), reason="no committed results yet")
def test_readme_table_is_the_one_generated_from_the_committed_results(tmp_path):
    result = json.loads(RESULT.read_text())
    readme = (BENCH.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split(predict_corpus.README_START + "\n", 1)[1].split(predict_corpus.README_END, 1)[0]
    assert block == "\n".join(predict_corpus.paper_table(result)) + "\n"
    section = "\n".join(predict_corpus.markdown(result))
    assert f"**{result['ratio']:.2f}x**" in section and result["command"] in section
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace(block, "stale\n"), encoding="utf-8")
    predict_corpus.update_readme(result, copy)
    assert copy.read_text(encoding="utf-8") == readme
