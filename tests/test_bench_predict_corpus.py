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


def test_the_section_shows_the_ratio_and_command_of_the_committed_results():
    result = json.loads(RESULT.read_text())
    section = "\n".join(predict_corpus.markdown(result))
    assert f"**{result['ratio']:.2f}x**" in section and result["command"] in section


def test_the_corpus_is_every_sentence_once_in_parquet_files_and_in_one_text_file(tmp_path):
    import pyarrow.parquet as pq

    parquet, plain = predict_corpus.write_corpus(tmp_path, 45)
    texts = plain.read_text(encoding="utf-8").splitlines()
    files = sorted(parquet.glob("*.parquet"))
    assert len(texts) == 45 and len(files) == predict_corpus.FILES
    assert [text for path in files for text in pq.read_table(path)["text"].to_pylist()] == texts
