"""Benchmark of the review app (``echoquant review``) on a 1,000-clip output folder.

Builds the folder from a few analysed loops (each copied under many clip ids, with
their records and saved segmentations), then times: opening it (the store, the list
API, and the page in a real browser until the list and the first clip are shown), a
decision round-trip (accept; edit with a moved ES frame, which re-measures the loop)
and a clip page's data. Writes ``docs/bench_review.md``.

    python scripts/bench_review.py                 # ~2 min on 2 CPU cores
    python scripts/bench_review.py --clips 1000 --source OUT   # an existing analyze folder as the source
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pandas as pd


def analysed_sources(tmp: Path, n: int) -> Path:
    """``n`` small generated human loops analysed into ``tmp/out``."""
    from echoquant import Analyzer
    from echoquant.batch import BatchOptions, run_batch
    from echoquant.synth import generate_case, sample_params
    from echoquant.synth.write import write_case

    for k in range(n):
        write_case(generate_case(sample_params("human", 700 + k, canvas=(240, 320), n_beats=1.8, fps=30.0)),
                   tmp / "in", f"loop{k}")
    for side in (tmp / "in").glob("*"):
        if side.suffix != ".dcm":
            side.unlink()
    run_batch([tmp / "in"], tmp / "src", Analyzer(device="cpu"), BatchOptions(workers=0))
    return tmp / "src"


def build_folder(src: Path, dst: Path, n_clips: int) -> Path:
    """An output folder of ``n_clips`` clips: the source clips repeated under new ids."""
    rows = pd.read_csv(src / "results.csv", dtype=str)
    rows = rows[(rows["status"] == "ok")].reset_index(drop=True)
    (dst / "clips").mkdir(parents=True)
    (dst / "masks").mkdir()
    out = []
    for i in range(n_clips):
        r = rows.iloc[i % len(rows)].copy()
        old, new = r["clip_id"], f"clip{i:05d}-{i:010x}"
        r["clip_id"] = new
        record = json.loads((src / "clips" / f"{old}.json").read_text())
        record["row"]["clip_id"] = new
        (dst / "clips" / f"{new}.json").write_text(json.dumps(record))
        (dst / "masks" / f"{new}.npz").hardlink_to(src / "masks" / f"{old}.npz")
        out.append(r)
    pd.DataFrame(out).to_csv(dst / "results.csv", index=False)
    return dst


def serve(app) -> tuple[str, object]:
    import uvicorn

    from echoquant.review.server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def ms(xs: list[float]) -> str:
    return f"{1000 * statistics.median(xs):.0f} ms (p95 {1000 * sorted(xs)[int(0.95 * (len(xs) - 1))]:.0f} ms)"


def browser_open(url: str) -> float | None:
    """Seconds from navigation to the list of every clip and the first clip's frames shown."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_function("() => S.clips.length > 0 && S.detail && S.sprite", timeout=60000)
        took = time.perf_counter() - start
        n = page.evaluate("document.querySelectorAll('#clip-list tbody tr').length")
        browser.close()
    print(f"page: {n} rows, first clip shown after {took:.2f} s")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--source", type=Path, help="an analyze output folder to copy clips from (default: generate 3)")
    ap.add_argument("--out", type=Path, default=Path("docs/bench_review.md"))
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from echoquant.review.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench_review_"))
    try:
        src = args.source or analysed_sources(tmp, 3)
        folder = build_folder(src, tmp / "out", args.clips)
        t0 = time.perf_counter()
        app = create_app(folder, "bench", hash_in_background=False)
        t_store = time.perf_counter() - t0
        client = TestClient(app)
        t0 = time.perf_counter()
        listed = client.get("/api/clips").json()["clips"]
        t_list = time.perf_counter() - t0
        assert len(listed) == args.clips
        url, server = serve(create_app(folder, "bench"))
        t_page = browser_open(url + "/?reviewer=bench")
        ids = [c["clip_id"] for c in listed]
        with httpx.Client(base_url=url, timeout=60) as http:
            detail = []
            for cid in ids[:20]:
                t0 = time.perf_counter()
                http.get(f"/api/clips/{cid}").raise_for_status()
                detail.append(time.perf_counter() - t0)
            accept = []
            for cid in ids[20:70]:
                t0 = time.perf_counter()
                http.post(f"/api/clips/{cid}/decision", json={"action": "accept"}).raise_for_status()
                accept.append(time.perf_counter() - t0)
            edit = []
            for cid in ids[70:80]:
                d = http.get(f"/api/clips/{cid}").json()
                t0 = time.perf_counter()
                http.post(f"/api/clips/{cid}/decision", json={
                    "action": "edit", "ed_frames": d["ed_frames"],
                    "es_frames": [max(a + 1, e - 1) for a, e in zip(d["ed_frames"], d["es_frames"])]}
                ).raise_for_status()
                edit.append(time.perf_counter() - t0)
        server.should_exit = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Review app benchmark", "",
        f"`python scripts/bench_review.py --clips {args.clips}` (2 CPU cores, loopback HTTP, uvicorn, one process). "
        "The folder holds the records and saved segmentations of generated 240x320 loops (54 frames), each "
        "repeated under many clip ids.", "",
        "| step | time | target |", "|---|---|---|",
        f"| open: read results.csv and decisions (ReviewStore) | {t_store * 1000:.0f} ms | |",
        f"| open: `GET /api/clips` ({args.clips} clips, worst first) | {t_list * 1000:.0f} ms | |",
        f"| open: the page in Chromium until the list and the first clip's loop are shown | "
        f"{'no browser' if t_page is None else f'{t_page:.2f} s'} | < 2 s |",
        f"| `GET /api/clips/{{id}}` (clip page data), median of 20 | {ms(detail)} | |",
        f"| decision round-trip: accept (append to decisions.jsonl, rewrite reviewed.csv), median of 50 | "
        f"{ms(accept)} | < 200 ms |",
        f"| decision round-trip: edit (moved ES frame; re-measured with speckle tracking), median of 10 | "
        f"{ms(edit)} | |",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
