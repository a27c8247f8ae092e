"""The ``echoquant`` command line: a thin door into the library's functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from echoquant import __version__

app = typer.Typer(
    name="echoquant",
    help="Echocardiography loops to LV volumes, LVEF, strain and cohort statistics.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"echoquant {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """echoquant command line."""


@app.command()
def info(path: Annotated[Path, typer.Argument(help="A DICOM file or video.")]) -> None:
    """Read one loop and print what echoquant sees in it (JSON): frames, timing,
    calibration, sector, ECG, flags and identifiers."""
    from echoquant.errors import EchoquantError
    from echoquant.io import read_cine

    try:
        cine = read_cine(path)
    except EchoquantError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    typer.echo(json.dumps(cine.summary(), indent=2))


@app.command("scan")
def scan_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Files and folders, searched recursively.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """Discover echo loops by content (headers only) and list them by study and series."""
    from echoquant.io import scan

    result = scan(*inputs)
    if as_json:
        typer.echo(json.dumps(result.to_records(), indent=2))
        return
    table = Table(title=f"{len(result.usable)} usable, {len(result.skipped)} skipped")
    for col in ("path", "frames", "size", "study", "series", "status"):
        table.add_column(col)
    for e in result.entries:
        size = f"{e.rows}x{e.cols}" if e.rows else ""
        table.add_row(
            e.path,
            str(e.n_frames or ""),
            size,
            (e.study_uid or "")[-12:],
            (e.series_uid or "")[-12:],
            "ok" if e.usable else f"[yellow]{e.reason}[/yellow]",
        )
    Console().print(table)


if __name__ == "__main__":
    app()
