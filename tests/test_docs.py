"""The docs agree with the tool, where a machine can tell: every `signcaps ...` line in their shell blocks
parses with the real CLI (commands, options, option values: nothing runs), every relative link points at a
file (and a heading) that exists, and every repository path they name in backticks is there."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from signcaps.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md",
        ROOT / "train" / "README.md", ROOT / "data" / "README.md"]
# Placeholders the docs write in place of a value, and what stands for them when the line is parsed.
PLACEHOLDERS = {"T": "0.5", "N": "2", "D": "0.5"}
TOP_FOLDERS = ("signcaps", "tests", "docs", "train", "deploy", "data", ".ci")


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[str]:
    """The `signcaps ...` commands of a shell block: continuations joined, comments cut, one per `&&`, `|`, `;`."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        code = _uncomment(line)
        for part in re.split(r"&&|\|\||[|;]", code):
            words = part.strip().split()
            while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
                words.pop(0)
            if words[:1] == ["signcaps"]:
                found.append(" ".join(words))
    return found


def _uncomment(line: str) -> str:
    """The line without its `# comment` (a # inside quotes or a word stays)."""
    quote = None
    for i, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        elif char == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _documented() -> list[tuple[str, str]]:
    return [(f"{doc.relative_to(ROOT)}: {command}", command) for doc in DOCS
            for block in _shell_blocks(doc.read_text()) for command in _commands(block)]


def _args(command: str) -> list[str]:
    """Shell words after `signcaps`, optional parts ([--json], [MODEL.onnx]) included, redirections dropped."""
    words = shlex.split(command.replace("[", " ").replace("]", " "))[1:]
    args = []
    for word in words:
        if word in (">", ">>", "2>") or word.startswith((">", "2>")):
            break
        args.append(PLACEHOLDERS.get(word, word))
    return args


def _cli_that_runs_nothing():
    """The real command tree (names, options, types, required arguments) with every callback a no-op."""
    root = typer.main.get_command(app)
    stack = [root]
    while stack:
        command = stack.pop()
        command.callback = lambda *args, **kwargs: None
        stack.extend(getattr(command, "commands", {}).values())
    return root


CLI = _cli_that_runs_nothing()


def _parse(args: list[str]) -> None:
    """Parse the words as `signcaps` would (the command path, every option and its value), running nothing."""
    CLI.main(args=list(args), prog_name="signcaps", standalone_mode=False)


def test_the_docs_show_signcaps_commands():
    documented = _documented()
    assert len(documented) > 40, len(documented)
    assert any(c == "signcaps predict photo.jpg" for _, c in documented)
    assert any(c.startswith("signcaps live --source 0") for _, c in documented)


@pytest.mark.parametrize("where, command", _documented(), ids=lambda value: value[:90])
def test_every_documented_command_parses(where, command):
    try:
        _parse(_args(command))
    except Exception as exc:  # the CLI's UsageError (typer's own click): the line does not parse
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        pytest.fail(f"{where}: {message}")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    return {_anchor(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(doc):
    broken = []
    for link in _links(doc):
        path, _, anchor = link.partition("#")
        target = (doc.parent / path).resolve() if path else doc
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(link)
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def _in_repository(path: str) -> bool:
    """A file or folder of the repository, a stage folder's module (`data/crops.py` in the package), or a
    module's attribute (`tests/badinput.attempt`)."""
    module = path.rsplit(".", 1)[0] + ".py"
    return any((base / candidate).exists() for base in (ROOT, ROOT / "signcaps") for candidate in (path, module))


@pytest.mark.parametrize("doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda d: str(d.relative_to(ROOT)))
def test_every_repository_path_the_docs_name_exists(doc):
    """`signcaps/live/reuse.py`, `tests/test_live.py`, `docs/live-window.png`: what the README and docs/ point
    readers at is in the repository (paths the tool writes, like `runs/...`, are not named here)."""
    text = doc.read_text()
    named = {m for m in re.findall(r"`([\w./-]+)`", text)
             if m.split("/")[0] in TOP_FOLDERS and "/" in m and "*" not in m and "<" not in m}
    missing = sorted(m for m in named if not _in_repository(m))
    assert named and not missing, f"{doc.relative_to(ROOT)}: {missing}"
