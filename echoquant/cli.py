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


@app.command()
def synth(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of cases (suite mode).")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed; the same seed gives the same files.")] = 0,
    preset: Annotated[str, typer.Option("--preset", help="human, human_a4c, human_a2c, rodent, mouse or rat.")] = "human",
    cohort: Annotated[
        str | None,
        typer.Option("--cohort", help="'demo' or a JSON CohortSpec file: write a study (groups, subjects, timepoints) instead of a suite."),
    ] = None,
    compression: Annotated[str, typer.Option("--compression", help="none, jpeg or mixed.")] = "mixed",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes.")] = 1,
) -> None:
    """Generate synthetic echo loops with exact ground truth (DICOM + labels + truth.csv)."""
    import time

    from echoquant.synth import DEMO_COHORT, CohortSpec, write_cohort, write_suite

    if compression not in ("none", "jpeg", "mixed"):
        raise typer.BadParameter(f"--compression must be none, jpeg or mixed, got {compression!r}")
    start = time.perf_counter()
    if cohort is None:
        truth = write_suite(output, n, seed=seed, preset=preset, compression=compression, workers=workers)
    else:
        if cohort == "demo":
            spec = DEMO_COHORT
        else:
            spec = CohortSpec.from_dict(json.loads(Path(cohort).read_text()))
        truth = write_cohort(output, spec, seed=seed, workers=workers)
    import csv

    rows = list(csv.DictReader(truth.open()))
    frames = sum(int(r["n_frames"]) for r in rows)
    elapsed = time.perf_counter() - start
    console.print(
        f"wrote {len(rows)} loops ({frames} frames) to {output} in {elapsed:.1f} s "
        f"({frames / elapsed:.1f} frames/s); truth in {truth}"
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(ctx: typer.Context) -> None:
    """Train a segmentation model with Hydra overrides, e.g.
    `echoquant train experiment=default_cpu trainer.max_steps=200` (same as
    `python -m echoquant.train ...`)."""
    import sys

    from echoquant.train import main as train_main

    sys.argv = ["echoquant-train", *ctx.args]
    train_main()


@app.command("evaluate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def evaluate_cmd(ctx: typer.Context) -> None:
    """Evaluate a model bundle on held-out synthetic loops (see `python -m echoquant.evaluate --help`)."""
    from echoquant.evaluate import main as evaluate_main

    evaluate_main(list(ctx.args))


@app.command()
def convert(
    dataset: Annotated[str, typer.Argument(help="camus or echonet")],
    source: Annotated[Path, typer.Argument(help="The dataset's root folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (training layout).")],
    split: Annotated[str | None, typer.Option("--split", help="EchoNet split to keep: TRAIN, VAL or TEST.")] = None,
) -> None:
    """Convert CAMUS or EchoNet-Dynamic into echoquant's training layout (NAME.dcm/.avi + NAME_labels.npz)."""
    from echoquant.segment.adapters import convert_camus, convert_echonet

    if dataset == "camus":
        names = convert_camus(source, output)
    elif dataset == "echonet":
        names = convert_echonet(source, output, split)
    else:
        raise typer.BadParameter(f"dataset must be camus or echonet, got {dataset!r}")
    console.print(f"converted {len(names)} cases into {output}")


if __name__ == "__main__":
    app()
