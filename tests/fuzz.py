"""A seeded DICOM mutator and a runner that feeds the mutants to the reader in
child processes with a time and memory limit (used by ``test_fuzz.py``; runnable
alone: ``python -m tests.fuzz --cases 500``)."""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import resource
import signal
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate, generate_fragments

MEMORY_LIMIT_BYTES = 3 * 1024**3  # address space of a child: an absurd allocation fails here
TIME_LIMIT_S = 30


# ------------------------------------------------------------------ sources


def make_sources(folder: Path, use_corpus: bool = True) -> list[Path]:
    """Small seed files: generated loops (native and JPEG), pydicom's real A4C loop,
    and the small files of ../shared/dicom-corpus when present."""
    from pydicom import examples

    from echoquant.io.writer import RegionSpec, write_us_dicom

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 48, 64), dtype=np.uint8)
    region = RegionSpec(x0=2, y0=2, x1=61, y1=45, delta_x=0.03, delta_y=0.03)
    out = [write_us_dicom(folder / "native.dcm", frames, frame_time_ms=20.0, regions=[region], heart_rate_bpm=60),
           write_us_dicom(folder / "jpeg.dcm", np.repeat(frames[..., None], 3, -1), frame_time_ms=20.0,
                          regions=[region], compression="jpeg")]
    out.append(Path(examples.get_path("ybr_color")))
    corpus = Path(__file__).resolve().parents[2] / "shared" / "dicom-corpus"
    if use_corpus and corpus.is_dir():
        out += sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm"
                      and p.stat().st_size < 1_000_000)
    return out


# ------------------------------------------------------------------ mutations


def _pixel_offset(data: bytes) -> int:
    i = data.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data
    return i if i > 0 else len(data) // 2


def _byte_mutation(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    kind = rng.choice(["truncate", "flip_header", "flip_pixels", "zero_run", "insert"])
    b = bytearray(data)
    px = _pixel_offset(data)
    if kind == "truncate":
        cut = int(rng.integers(0, len(b)))
        return bytes(b[:cut]), f"truncate at {cut}"
    if kind == "flip_header":
        lo, hi = 128, max(129, min(px, len(b)))
        for _ in range(int(rng.integers(1, 8))):
            b[int(rng.integers(lo, hi))] ^= int(rng.integers(1, 256))
        return bytes(b), "flip header bytes"
    if kind == "flip_pixels":
        for _ in range(int(rng.integers(1, 32))):
            b[int(rng.integers(min(px, len(b) - 1), len(b)))] ^= int(rng.integers(1, 256))
        return bytes(b), "flip pixel bytes"
    if kind == "zero_run":
        start = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 512))
        b[start : start + n] = bytes(min(n, len(b) - start))
        return bytes(b), f"zero {n} bytes at {start}"
    pos = int(rng.integers(128, len(b)))
    return bytes(b[:pos] + rng.bytes(int(rng.integers(1, 64))) + b[pos:]), f"insert bytes at {pos}"


_ABSURD = {
    "Rows": [0, 1, 65535, 8192], "Columns": [0, 65535, 8192], "NumberOfFrames": ["0", "1000000000", "-3", "abc", "",
                                                                             "20000"],
    "BitsAllocated": [0, 1, 12, 64, 65535], "BitsStored": [0, 17, 255], "SamplesPerPixel": [0, 2, 4, 255],
    "PhotometricInterpretation": ["", "YBR_RCT", "HSV", "PALETTE COLOR"], "FrameTime": ["0", "-40", "nan", "1e309"],
    "HeartRate": [-1, 0, 100000], "PlanarConfiguration": [1, 7], "PixelRepresentation": [1, 9],
}
_DELETABLE = ["Rows", "Columns", "PixelData", "PhotometricInterpretation", "BitsAllocated", "SOPClassUID",
              "Modality", "NumberOfFrames", "SequenceOfUltrasoundRegions", "SamplesPerPixel", "FrameTime"]


def _dataset_mutation(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        ds.PixelData  # noqa: B018 - make sure it parsed
    except Exception:  # noqa: BLE001 - an unparsable seed gets a byte mutation instead
        return _byte_mutation(data, rng)
    kind = rng.choice(["absurd", "delete", "wrong_vr", "drop_fragments", "zero_frames", "region"])
    what = kind
    if kind == "absurd":
        key = str(rng.choice(list(_ABSURD)))
        vals = _ABSURD[key]
        value = vals[int(rng.integers(0, len(vals)))]
        try:
            setattr(ds, key, value)
        except Exception:  # noqa: BLE001 - pydicom refuses some values for the VR: write them raw
            tag = pydicom.tag.Tag(pydicom.datadict.tag_for_keyword(key))
            raw = str(value).encode()
            raw += b" " * (len(raw) % 2)
            ds[tag] = pydicom.dataelem.RawDataElement(tag, pydicom.datadict.dictionary_VR(tag), len(raw), raw, 0,
                                                      True, True)
        what = f"{key}={value!r}"
    elif kind == "delete":
        key = str(rng.choice(_DELETABLE))
        if key in ds:
            del ds[key]
        what = f"delete {key}"
    elif kind == "wrong_vr":
        key = str(rng.choice(["Rows", "NumberOfFrames", "FrameTime", "BitsAllocated"]))
        if key in ds:
            elem = ds[key]
            ds[key] = pydicom.DataElement(elem.tag, "OB", rng.bytes(int(rng.integers(0, 9))))
        what = f"wrong VR for {key}"
    elif kind == "drop_fragments" and ds.file_meta.TransferSyntaxUID.is_encapsulated:
        frags = list(generate_fragments(ds.PixelData))
        keep = [f for f in frags if rng.uniform() > 0.4] or frags[:1]
        ds.PixelData = encapsulate(keep)
        what = f"keep {len(keep)} of {len(frags)} fragments"
    elif kind == "zero_frames":
        ds.NumberOfFrames = 0
    elif kind == "region" and "SequenceOfUltrasoundRegions" in ds:
        item = ds.SequenceOfUltrasoundRegions[0]
        item.RegionLocationMaxX1 = int(rng.integers(0, 100000))
        item.PhysicalDeltaX = float(rng.choice([0.0, -1.0, 1e30, float("nan")]))
        what = "damaged ultrasound region"
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=False)
    except Exception:  # noqa: BLE001 - pydicom refused to write it: mutate bytes instead
        return _byte_mutation(data, rng)
    return buf.getvalue(), what


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One seeded mutation (byte-level or dataset-level) of a DICOM file."""
    if rng.uniform() < 0.5:
        return _byte_mutation(data, rng)
    return _dataset_mutation(data, rng)


# ------------------------------------------------------------------ running


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):  # noqa: ANN001, ARG001
    raise _Timeout()


def _init_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    signal.signal(signal.SIGALRM, _on_alarm)


def check_case(path: str) -> dict:
    """Read one file; classify the outcome (run in a child process)."""
    from echoquant.errors import EchoquantError
    from echoquant.io import read_cine, scan

    start = time.perf_counter()
    signal.alarm(TIME_LIMIT_S)
    try:
        scan(path)
        cine = read_cine(path)
        outcome, detail = "valid", _invariants(cine)
    except EchoquantError as exc:
        outcome, detail = "typed_error", exc.code
    except _Timeout:
        outcome, detail = "timeout", f"over {TIME_LIMIT_S} s"
    except MemoryError:
        outcome, detail = "memory", "MemoryError"
    except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
        outcome, detail = "unhandled", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.alarm(0)
    return {"path": path, "outcome": outcome, "detail": detail, "seconds": time.perf_counter() - start}


def _invariants(cine) -> str:  # noqa: ANN001
    problems = []
    if cine.frames.ndim != 3 or cine.frames.dtype != np.uint8 or cine.n_frames < 1:
        problems.append("frames")
    if cine.fps is not None and not (np.isfinite(cine.fps) and cine.fps > 0):
        problems.append(f"fps {cine.fps}")
    if cine.spacing_mm is not None and not all(np.isfinite(s) and s > 0 for s in cine.spacing_mm):
        problems.append(f"spacing {cine.spacing_mm}")
    if cine.heart_rate_bpm is not None and not (np.isfinite(cine.heart_rate_bpm) and cine.heart_rate_bpm > 0):
        problems.append(f"heart rate {cine.heart_rate_bpm}")
    return "ok" if not problems else "invalid: " + ", ".join(problems)


def run_campaign(workdir: Path, n_cases: int, seed: int = 0, workers: int = 2, use_corpus: bool = True) -> list[dict]:
    """Write ``n_cases`` mutants of the seed files and read each in a limited child."""
    sources = make_sources(workdir / "sources", use_corpus)
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n_cases):
        src = sources[k % len(sources)]
        data, what = mutate(src.read_bytes(), rng)
        path = workdir / f"case{k:04d}.dcm"
        path.write_bytes(data)
        cases.append((str(path), f"{src.name}: {what}"))
    results = []
    ctx = mp.get_context("spawn")
    pending = list(cases)
    while pending:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_child) as pool:
            futures = [(c, pool.submit(check_case, c[0])) for c in pending]
            pending = []
            for (path, what), fut in futures:
                try:
                    r = fut.result(timeout=TIME_LIMIT_S * 4)
                except BrokenProcessPool:
                    # a child died (crash or hard memory kill): record it, rerun the rest
                    r = {"path": path, "outcome": "crash", "detail": "child process died", "seconds": None}
                    idx = next(i for i, (c, _) in enumerate(futures) if c[0] == path)
                    pending = [c for c, _ in futures[idx + 1 :]]
                    results.append({**r, "mutation": what})
                    break
                results.append({**r, "mutation": what})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/echoquant_fuzz"))
    parser.add_argument("--no-corpus", action="store_true", help="seed files without ../shared/dicom-corpus")
    args = parser.parse_args()
    results = run_campaign(args.workdir, args.cases, args.seed, use_corpus=not args.no_corpus)
    print(Counter(r["outcome"] for r in results))
    print(Counter(r["detail"] for r in results if r["outcome"] == "typed_error"))
    for r in results:
        if r["outcome"] not in ("valid", "typed_error") or r["detail"].startswith("invalid"):
            print(r)


if __name__ == "__main__":
    main()
