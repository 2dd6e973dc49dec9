"""Every decimal figure in README.md and BENCHMARKS.md comes from a results file, by its command.

BENCHMARKS.md must be exactly what ``bench/run_all.py`` generates from ``bench/results``; the
README's generated sections exactly what ``bench/readme_figures.py`` gives (see its docstring
for how to add figures). Outside those sections a decimal figure is allowed by rule only: in
code (inline or fenced: commands, settings, example output), as a version (three parts,
``2.13.0``, or stated with its name by the package's own source, ``BY-NC-SA 4.0``), or as a
threshold or setting that the code or a shipped config defines as a literal (``0.999`` in
``multinerd.model.export``). A figure typed into the README by hand fails.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import readme_figures
import run_all

FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
#: A decimal figure: digits, a point, digits (more points make a version); not inside a word.
DECIMAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)+(?![\w.]*\w)")


@cache
def defined_numbers() -> frozenset[float]:
    """Every numeric literal of the package's source and the shipped configs: its thresholds and settings."""
    found: set[float] = set()
    for path in (REPO / "src" / "multinerd").rglob("*.py"):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        found.update(float(t.string.replace("_", "")) for t in tokens
                     if t.type == tokenize.NUMBER and "." in t.string and not t.string.endswith(("j", "J")))  # fmt: skip
    for path in (REPO / "configs").glob("*.yaml"):
        found.update(float(m) for m in re.findall(r"(?<![\w.])\d+\.\d+(?:e-?\d+)?", path.read_text(encoding="utf-8")))
    return frozenset(found)


@cache
def source_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((REPO / "src" / "multinerd").rglob("*.py")))


def _stated_by_the_code(line: str, start: int, figure: str) -> bool:
    """The figure with the word before it (``BY-NC-SA 4.0``) appears in the package's own source."""
    word = re.search(r"(\S+)\s+$", line[:start])
    return word is not None and f"{word.group(1)} {figure}" in source_text()


def unbacked_figures(text: str) -> list[str]:
    """Decimal figures outside generated sections and code that no rule excepts, with their line."""
    generated = readme_figures.SECTION.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    prose = INLINE.sub("", FENCED.sub(lambda m: "\n" * m.group(0).count("\n"), COMMENT.sub("", generated)))
    problems = []
    for number, line in enumerate(prose.splitlines(), start=1):
        for match in DECIMAL.finditer(line):
            figure = match.group(0)
            if figure.count(".") >= 2:  # a version: 2.13.0
                continue
            if float(figure) in defined_numbers():  # a threshold or setting the code defines
                continue
            if _stated_by_the_code(line, match.start(), figure):  # a version the code names: BY-NC-SA 4.0
                continue
            problems.append(f"README.md:{number}: {figure}")
    return problems


def test_readme_figures_all_have_a_results_file() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert unbacked_figures(text) == []


def test_readme_generated_sections_are_what_the_results_give() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = [m["name"] for m in readme_figures.SECTION.finditer(text)]
    assert sorted(names) == sorted(readme_figures.SECTIONS), "every renderer has its section, and no more"
    assert readme_figures.render(text) == text, f"run {readme_figures.COMMAND}"


def test_benchmarks_md_is_what_run_all_generates(tmp_path: Path) -> None:
    written = tmp_path / "BENCHMARKS.md"
    run_all.write_markdown(run_all.load_results(run_all.RESULTS), written)
    assert written.read_text(encoding="utf-8") == (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")


def test_a_figure_edited_by_hand_fails() -> None:
    """The checks above bite: a changed generated figure, and a new figure typed into prose."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = next(m for m in readme_figures.SECTION.finditer(text) if DECIMAL.search(m["body"]))
    figure = DECIMAL.search(section["body"])
    start = section.start("body") + figure.start()
    edited = text[:start] + ("9" if text[start] != "9" else "8") + text[start + 1 :]
    assert readme_figures.render(edited) != edited
    typed = text.replace("## Licence\n", "## Licence\n\nThe quickstart's A scores 0.7314 here.\n", 1)
    assert unbacked_figures(typed) == [f"README.md:{typed[: typed.index('0.7314')].count(chr(10)) + 1}: 0.7314"]


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("torch 2.13.0 from local disk", True),
        ("licensed **CC BY-NC-SA 4.0**", True),
        ("A in B's space 0.731", False),
        ("entity agreement at least 0.999 for fp32", True),
        ("run `multinerd run --set train.learning_rate=0.123`", True),
        ("gave strict micro F1 A 0.592", False),
        ("bf16 entities agree at 0.9975", False),
        ("1.16 and 1.69 times", False),
    ],
)
def test_the_rules(line: str, allowed: bool) -> None:
    assert (unbacked_figures(line) == []) is allowed
