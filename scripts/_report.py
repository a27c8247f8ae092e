"""Shared ending of the benchmark scripts: print a table and optionally write it as markdown."""

from __future__ import annotations

from pathlib import Path


def emit(title: str, head: str, lines: list[str], markdown: Path | None) -> None:
    """Print ``head`` and the table ``lines``; write them under ``# title`` to ``markdown`` if given."""
    text = head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(f"# {title}\n\n" + text)
