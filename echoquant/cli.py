"""The ``echoquant`` command line: a thin door into the library's functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from echoquant import __version__

if TYPE_CHECKING:
    from echoquant.batch import BatchSummary

app = typer.Typer(
    name="echoquant",
    help="Echocardiography loops to LV volumes, LVEF, strain and cohort statistics.",
    no_args_is_help=True,
    # Markdown joins a docstring's wrapped lines into one flowing paragraph in --help.
    rich_markup_mode="markdown",
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
    from echoquant._memory import keep_freed_memory

    # The command owns its process: keep freed memory for reuse (fewer page faults; see _memory).
    keep_freed_memory()


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="A DICOM file or video.")],
    show_identifiers: Annotated[bool, typer.Option("--show-identifiers", help="Print the PatientID too.")] = False,
) -> None:
    """Read one loop and print what echoquant sees in it (JSON): frames, timing,
    calibration, sector, ECG, flags and identifiers (PatientID only when asked)."""
    from echoquant.errors import EchoquantError
    from echoquant.io import read_cine

    try:
        cine = read_cine(path)
    except EchoquantError as exc:
        from echoquant.privacy import scrub_for

        console.print(f"[red]{exc.code}[/red]: {scrub_for(path, str(exc))}")
        raise typer.Exit(code=2) from exc
    summary = cine.summary()
    if not show_identifiers and summary["meta"].get("patient_id"):
        summary["meta"]["patient_id"] = "<hidden: pass --show-identifiers>"
    typer.echo(json.dumps(summary, indent=2))


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
    mmode: Annotated[
        bool,
        typer.Option("--mmode", help="Write M-mode screens (parasternal M-line, 2-D image on top, ECG beneath) with their exact truth instead of loops; presets human, mouse, rat or rodent."),
    ] = False,
) -> None:
    """Generate synthetic echo loops (or M-mode screens) with exact ground truth (DICOM + labels + truth.csv)."""
    import time

    from echoquant.synth import DEMO_COHORT, CohortSpec, write_cohort, write_suite

    if compression not in ("none", "jpeg", "mixed"):
        raise typer.BadParameter(f"--compression must be none, jpeg or mixed, got {compression!r}")
    start = time.perf_counter()
    if mmode:
        from echoquant.synth.mmode import MMODE_PRESETS, write_mmode_suite

        if preset not in MMODE_PRESETS:
            raise typer.BadParameter(f"--preset must be one of {MMODE_PRESETS} with --mmode, got {preset!r}")
        truth = write_mmode_suite(output, n, seed=seed, preset=preset, workers=workers)
        console.print(f"wrote {n} M-mode screens to {output} in {time.perf_counter() - start:.1f} s; truth in {truth}")
        return
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
    """Evaluate a model bundle on held-out synthetic loops, or on real CAMUS patients with `echoquant evaluate camus ../shared/camus --split valid` (see `python -m echoquant.evaluate --help`)."""
    from echoquant.evaluate import main as evaluate_main

    evaluate_main(list(ctx.args))


@app.command()
def convert(
    dataset: Annotated[str, typer.Argument(help="camus or echonet")],
    source: Annotated[Path, typer.Argument(help="The dataset's root folder (CAMUS: a database folder such as database_nifti).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (training layout).")],
    split: Annotated[str | None, typer.Option("--split", help="Split to keep: EchoNet TRAIN, VAL or TEST; CAMUS train or valid (from patients.csv).")] = None,
    uncalibrated: Annotated[bool, typer.Option("--uncalibrated", help="CAMUS: the headers' pixel spacing is not the true one (the resampled 2CH copy); write no calibration, so no volumes in mL come from these cases.")] = False,
) -> None:
    """Convert CAMUS or EchoNet-Dynamic into echoquant's training layout (NAME.dcm/.avi + NAME_labels.npz). With a CAMUS patients.csv beside the source, cases go into one subfolder per split and cases.csv lists view, split, image quality and calibration."""
    from echoquant.segment.adapters import convert_camus, convert_echonet

    if dataset not in ("camus", "echonet"):
        raise typer.BadParameter(f"dataset must be camus or echonet, got {dataset!r}")
    try:
        if dataset == "camus":
            names = convert_camus(source, output, calibrated=not uncalibrated, splits=(split,) if split else None)
        else:
            names = convert_echonet(source, output, split)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"converted {len(names)} cases into {output}")


@app.command()
def analyze(
    inputs: Annotated[list[Path], typer.Argument(help="DICOM/video files and folders (searched recursively).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    model: Annotated[Path | None, typer.Option("--model", help="Model bundle folder (default: shipped model).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:1...")] = "auto",
    overlays: Annotated[bool, typer.Option("--overlays", help="Write a contour GIF and a curves PNG per clip.")] = False,
    sr: Annotated[bool, typer.Option("--sr", help="Write a DICOM Comprehensive SR per clip (TID 1500).")] = False,
    resume: Annotated[bool, typer.Option("--continue", help="Skip clips already done (same content and model).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Analyse everything again in a used output folder.")] = False,
    num_parts: Annotated[int, typer.Option("--num-parts", min=1, help="Split the inputs into this many shards.")] = 1,
    part_id: Annotated[int, typer.Option("--part-id", min=0, help="Analyse only this shard (0-based).")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Decoding processes (0: in the main process).")] = 1,
    tta: Annotated[bool, typer.Option("--tta", help="Test-time augmentation (mirror) in segmentation.")] = False,
    no_tracking: Annotated[bool, typer.Option("--no-tracking", help="Skip speckle tracking (no tracking GLS).")] = False,
    no_view_classifier: Annotated[bool, typer.Option(
        "--no-view-classifier", help="Take views from headers only (the shipped view classifier is trained on CAMUS, "
                                     "CC BY-NC-SA 4.0).")] = False,
    allow_failures: Annotated[bool, typer.Option("--allow-failures", help="Exit 0 even when clips failed.")] = False,
    acquisition_table: Annotated[Path | None, typer.Option(
        "--acquisition-table", help="CSV of what files lack (file or pattern -> spacing_mm, fps, species, view, "
                                    "subject, timepoint); header values win unless --prefer-table.")] = None,
    prefer_table: Annotated[bool, typer.Option("--prefer-table", help="Acquisition-table values win over "
                                                                      "the header's.")] = False,
) -> None:
    """Analyse echo loops: OUT/results.csv + results.parquet (one row per file),
    OUT/clips/*.json (curves, per-beat values), optional overlays and DICOM SR.
    Exit code 1 when any clip failed (unless --allow-failures), 2 on a usage error."""
    from echoquant.batch import BatchError, BatchOptions
    from echoquant.batch import analyze as run
    from echoquant.io.acquisition import AcquisitionTableError

    try:
        options = BatchOptions(overlays=overlays, sr=sr, resume=resume, overwrite=overwrite, num_parts=num_parts,
                               part_id=part_id, workers=workers)
        summary = run(inputs, output, model=model, device=device, tta=tta, track=not no_tracking, options=options,
                      find_views=not no_view_classifier, acquisition_table=acquisition_table,
                      prefer_table=prefer_table)
    except (BatchError, ValueError, AcquisitionTableError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    _print_batch_summary(summary)
    if summary.n_failed and not allow_failures:
        raise typer.Exit(code=1)


def _print_batch_summary(summary: BatchSummary) -> None:
    ok, failed, skipped = summary.count("ok"), summary.n_failed, summary.count("skipped")
    table = Table(title=f"{len(summary.rows)} files in {summary.elapsed_s:.1f} s")
    for col in ("ok", "failed", "skipped", "resumed", "QC pass"):
        table.add_column(col)
    qc = sum(bool(r.get("qc_pass")) for r in summary.rows)
    table.add_row(str(ok), str(failed), str(skipped), str(summary.n_resumed), str(qc))
    console.print(table)
    for path in summary.tables:
        console.print(f"wrote {path}")


@app.command()
def collect(
    output: Annotated[Path, typer.Argument(help="Output folder of one or more analyze runs (shards).")],
    sr: Annotated[bool, typer.Option("--sr", help="Also write a study-level DICOM SR per study (OUTPUT/sr/studies/).")] = False,
) -> None:
    """Merge the clip records of all shards in OUTPUT into results.csv and results.parquet, and the studies into studies.csv and studies.parquet (biplane where a study has A4C and A2C loops)."""
    from echoquant.batch import BatchError
    from echoquant.batch import collect as merge

    try:
        for path in merge(output, sr=sr):
            console.print(f"wrote {path}")
    except BatchError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc


@app.command("compare")
def compare_cmd(
    results: Annotated[Path, typer.Argument(help="results.csv of `echoquant analyze`.")],
    groups: Annotated[Path, typer.Option("--groups", help="CSV: subject_id, group [, timepoint, covariates].")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    mapping: Annotated[Path | None, typer.Option("--mapping", help="CSV: path, subject_id [, timepoint].")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Regex on paths with (?P<subject>..) and optional (?P<timepoint>..).")] = None,
    reference: Annotated[str | None, typer.Option("--reference", help="Control group (default: control/placebo/vehicle/sham).")] = None,
    timepoints: Annotated[str | None, typer.Option("--timepoints", help="Study order, comma-separated, e.g. baseline,week4.")] = None,
    blind: Annotated[bool, typer.Option("--blind", help="Report groups as random codes; the key goes to OUT/unblinding_key.csv.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and the blinding codes.")] = 0,
    clip_level: Annotated[bool, typer.Option(
        "--clip-level", help="Compare clip values from results.csv even when studies.csv (biplane study values) "
                             "lies next to it.")] = False,
    no_review: Annotated[bool, typer.Option(
        "--no-review", help="Ignore review/reviewed.csv (the over-read of `echoquant review`) beside results.csv.")
    ] = False,
) -> None:
    """Compare groups: OUT/stats.csv, stats.json, subjects.csv, excluded.csv, report.html. Uses the study-level values of studies.csv (biplane where a study has A4C and A2C loops) when it lies next to results.csv, unless --clip-level; and the over-read of `echoquant review` (review/reviewed.csv) when there is one, unless --no-review."""
    from echoquant.cohort import CohortInputError, blind_groups, read_groups
    from echoquant.cohort import compare as run_compare
    from echoquant.cohort.report import load_strain_curves
    from echoquant.cohort.review import review_tables

    try:
        import pandas as pd

        table = pd.read_csv(results, dtype={"patient_id": str, "timepoint": str})
        studies = results.with_name("studies.csv")
        level = "clip" if clip_level or not studies.is_file() else "study"
        if level == "study":
            from echoquant.cohort.design import studies_as_rows

            table = studies_as_rows(pd.read_csv(studies, dtype={"patient_id": str, "timepoint": str}))
            console.print(f"study-level values from {studies} (--clip-level for clip values)")
        reviewed = review_tables(results, level=level, use_review=not no_review)
        if reviewed is not None:
            table = reviewed.reviewed
            console.print(f"reviewed values from {results.parent / 'review' / 'reviewed.csv'} "
                          f"({reviewed.summary['n_reviewed']} clips reviewed; --no-review to ignore)")
        groups_df = read_groups(groups)
        if blind:
            groups_df, key = blind_groups(groups_df, seed)
            output.mkdir(parents=True, exist_ok=True)
            key.to_csv(output / "unblinding_key.csv", index=False)
        options = dict(mapping=None if mapping is None else pd.read_csv(mapping, dtype=str), pattern=pattern,
                       reference=reference, seed=seed, timepoints=None if timepoints is None else timepoints.split(","),
                       level=level)
        report = run_compare(table, groups_df, curves=load_strain_curves(results, table), **options)
        if reviewed is not None:
            report.attach_review(reviewed.summary, reviewed.agreement,
                                 run_compare(reviewed.unreviewed, groups_df, n_boot=0, **options))
    except (CohortInputError, OSError, ValueError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    for path in report.write(output):
        console.print(f"wrote {path}")
    from echoquant.cohort.report import primary_table

    console.print(primary_table(report))


@app.command()
def review(
    output: Annotated[Path, typer.Argument(help="Output folder of `echoquant analyze` (with results.csv).")],
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="TCP port (default: a free one).")] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind; not localhost only with a warning.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", help="Name the decisions are recorded under (default: your login name).")] = None,
) -> None:
    """Over-read every clip in a local web page: accept, exclude with a reason, move ED/ES,
    drag the contour; decisions go to OUT/review/decisions.jsonl and OUT/review/reviewed.csv
    (results.csv is never changed), and `echoquant compare` uses them."""
    import getpass

    from echoquant.review.server import serve
    from echoquant.review.store import ReviewError

    # The audit trail needs a person: the login name unless one is given (and said).
    reviewer = reviewer or getpass.getuser()

    try:
        serve(output, host=host, port=port, reviewer=reviewer, open_browser=not no_browser, say=console.print)
    except (ReviewError, OSError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("echoquant_demo"),
    n_per_group: Annotated[int, typer.Option("--n-per-group", min=3, help="Mice per group.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic study.")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes for generation and decoding.")] = 2,
) -> None:
    """End to end on built-in data: generate a synthetic preclinical study (treated
    vs control mice, baseline and week 4, DICOM), analyse it blind, compare the
    groups and write the report (OUT/report/report.html)."""
    from echoquant.demo import run_demo

    run_demo(output, n_per_group=n_per_group, seed=seed, workers=workers, console=console)


if __name__ == "__main__":
    app()
