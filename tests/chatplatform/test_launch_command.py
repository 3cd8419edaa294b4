"""The platform is launched one way (issue 30, 5): close codes such as 1009 and 1007, and the
drain on SIGTERM, hold only under ``python -m chatplatform.server`` (``test_live_contract.py``
checks the codes under it), so no document or deployment file may name Daphne's own command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `daphne <something>asgi...` as a command, or "daphne" as the first word of an exec-form list.
PLAIN_DAPHNE = re.compile(r"(?<![\w.-])daphne\s+(?:-\S+\s+)*\S*asgi|\[\s*\"daphne\"")


def launch_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Dockerfile", ROOT / "docker-compose.yml", ROOT / "Makefile"]
    for folder in ("docs", "deploy", "scripts"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".png"]
    return files


def test_no_document_or_deployment_names_plain_daphne() -> None:
    named = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in launch_files()
        for match in PLAIN_DAPHNE.finditer(path.read_text(errors="replace"))
    ]
    assert not named, named


def test_the_pattern_finds_plain_daphne() -> None:
    assert PLAIN_DAPHNE.search("plain `daphne chatplatform.asgi:application` works too")
    assert PLAIN_DAPHNE.search('CMD ["daphne", "-b", "0.0.0.0", "chatplatform.asgi:application"]')
    assert not PLAIN_DAPHNE.search("python -m chatplatform.server -b 0.0.0.0 chatplatform.asgi:application")
