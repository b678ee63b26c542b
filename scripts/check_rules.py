"""Fail on the constructs the code rules ban (the explicit any type, cast, stubs, markers)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_ANY = "A" + "ny"
_WORDS = ("TO" + "DO", "FIX" + "ME", "HA" + "CK", "X" + "XX")
BANNED: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "any-type",
        re.compile(rf"typing\.{_ANY}\b|import [^\n]*\b{_ANY}\b|[:\[,(|] *{_ANY}\b|-> *{_ANY}\b"),
    ),
    ("cast-call", re.compile(r"\bcast\(|import [^\n]*\bcast\b")),
    ("type-ignore", re.compile(r"type: *" + "ignore")),
    ("no-qa", re.compile(r"\b" + "no" + r"qa\b")),
    ("pragma", re.compile(r"pragma: *" + "no cover")),
    ("marker", re.compile(r"\b(" + "|".join(_WORDS) + r")\b")),
)


def scan_text(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, rule)`` for every banned construct in ``text``."""
    hits: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        hits.extend((number, rule) for rule, pattern in BANNED if pattern.search(line))
    return hits


def scan_paths(roots: list[str]) -> list[str]:
    """Scan ``.py`` and ``.ipynb`` files under ``roots``; stubs are a hit by themselves."""
    problems: list[str] = []
    for root in roots:
        base = Path(root)
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix == ".pyi":
                problems.append(f"{path}: stub file")
            elif path.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in path.parts:
                text = path.read_text(encoding="utf-8")
                problems.extend(f"{path}:{n}: {rule}" for n, rule in scan_text(text))
    return problems


def main(argv: list[str]) -> int:
    """Print each problem and return 1 if there are any."""
    problems = scan_paths(argv)
    for problem in problems:
        print(problem)
    print(f"code rules: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
