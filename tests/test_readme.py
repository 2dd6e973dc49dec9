"""The README cannot drift: its command table names every command and option the parser knows,
and its Python snippets run (against a tiny model saved where the quickstart puts A)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from conftest import save_tiny_model
from multinerd.apps.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every leaf command: ``{"run": parser, "data stats": parser, ...}``."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_commands(sub, f"{prefix}{name} ") or {f"{prefix}{name}": sub})
    return found


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_command_table_names_every_command_and_option() -> None:
    section = _section("Commands")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `multinerd ([a-z-]+(?: [a-z]+)?)[^|]*.*$", section, re.MULTILINE)}
    problems = []
    global_options = {"--verbose", "--quiet", "--version"}
    for name, sub in _commands(build_parser()).items():
        row = next((text for command, text in rows.items() if command == name or command.startswith(name + " ")), None)
        if row is None:
            problems.append(f"no row for `multinerd {name}` in the README's command table")
            continue
        missing = [option for option in _long_options(sub) if option not in global_options and option not in row]
        problems += [f"`multinerd {name}` row misses {option}" for option in missing]
    problems += [f"the Commands section never mentions {option}" for option in sorted(global_options)
                 if option not in section]  # fmt: skip
    assert problems == [], "README.md is out of date:\n" + "\n".join(problems)


def _python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert any("Tagger.from_pretrained" in snippet for snippet in _python_snippets())


@pytest.mark.parametrize("index", range(len(_python_snippets())))
def test_readme_python_snippet_runs(index: int, tmp_path: Path, monkeypatch, capsys) -> None:
    save_tiny_model(tmp_path / "runs" / "quickstart" / "A")
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_snippets()[index], f"README.md snippet {index}", "exec"), {})  # noqa: S102 -- the point
    assert capsys.readouterr().out.strip()  # every snippet shows its result


def test_score_converts_iobes_columns_as_the_readme_example_says(tmp_path: Path, monkeypatch, capsys) -> None:
    """The README once said IOBES/BILOU columns were refused; they are converted. Run its example."""
    import shlex
    import subprocess

    from multinerd.apps.cli import main

    section = _section("Scoring predictions from elsewhere")
    block = re.search(r"```bash\n(printf .*?)\n(multinerd score .*?)\s+# (.*?)\n```", section, re.DOTALL)
    assert block is not None, "the README's score example"
    subprocess.run(["bash", "-c", block.group(1)], cwd=tmp_path, check=True)
    assert "S-LOC" in (tmp_path / "iobes.conll").read_text() and "E-PER" in (tmp_path / "iobes.conll").read_text()
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(block.group(2))[1:]) == 0
    assert block.group(3) in capsys.readouterr().out


def layout_entries(readme: str) -> dict[str, str]:
    """``folder/module.py`` -> its purpose, from the Layout section's tree (two spaces per level)."""
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    entries: dict[str, str] = {}
    folder = ""
    for line in block.splitlines()[1:]:
        stripped = line.strip()
        if not stripped or line.startswith("                 "):  # a purpose's second line
            continue
        name, _, purpose = stripped.partition(" ")
        depth = (len(line) - len(line.lstrip(" "))) // 2
        if name.endswith("/"):  # a folder stands for its package's __init__.py
            folder = name
            entries[folder + "__init__.py"] = purpose.strip()
        elif name.endswith(".py"):
            entries[(folder if depth == 2 else "") + name] = purpose.strip()
    return entries


def test_readme_layout_lists_every_module_with_its_purpose_and_nothing_else():
    package = README.parent / "src" / "multinerd"
    tree = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    entries = layout_entries(README.read_text(encoding="utf-8"))
    assert set(entries) == tree
    assert all(entries.values()), [name for name, purpose in entries.items() if not purpose]


def test_layout_reader_sees_folders_and_a_missing_module():
    readme = "## Layout\n\n```\nsrc/multinerd/\n  config.py   settings\n  data/       in\n    corpus.py  sources\n```\n"
    assert layout_entries(readme) == {"config.py": "settings", "data/__init__.py": "in", "data/corpus.py": "sources"}
