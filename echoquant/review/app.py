"""The review web app: FastAPI routes onto a :class:`~echoquant.review.store.ReviewStore`
(``echoquant review OUT`` serves it with uvicorn).

JSON API (the page uses nothing else; labs can script it):

- ``GET /api/clips[?reviewer=NAME]``: ``{"reviewer", "clips": [...], "exclude_reasons"}``;
  each clip ``clip_id, path, name, status, view, species, values, qc_pass, qc_flags,
  interval_width, review_status, reviewer, reviewed_at, review_reason, stale``, worst
  first (no values, then widest 95 % interval). No group or treatment: reading is blind.
- ``GET /api/clips/{clip_id}[?reviewer=NAME]``: the same plus ``curve`` (volume or
  area per frame), ``ed_frames``, ``es_frames``, ``contours`` (per frame ``[[x, y],
  ...]`` or null), ``frames`` (sprite layout and URL), ``edits`` in effect, the analysed
  ``original`` values and this clip's ``history`` of decisions.
- ``GET /api/clips/{clip_id}/frames.jpg``: every frame in one JPEG sprite.
- ``POST /api/clips/{clip_id}/decision``: ``{"action": "accept"|"exclude"|"edit",
  "reason": ..., "ed_frames": [...], "es_frames": [...], "contours": {"<frame>": [[x, y],
  ...]}, "reviewer": ...}``; answers the recorded decision (values ``before`` and
  ``after``). 400 malformed, 404 unknown clip, 409 clip not editable (input changed or
  gone, no saved segmentation), 422 edits that do not fit the loop.
- ``GET /api/decisions``: every decision, oldest first.
- ``GET /out/{path}``: a file under the output folder (overlays...); nothing outside it.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from echoquant import __version__
from echoquant.errors import EchoquantError
from echoquant.review.media import frame_sprite, sprite_layout
from echoquant.review.store import EXCLUDE_REASONS, ReviewError, ReviewStore

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")
_MAX_CONTOUR_POINTS = 64  # per frame on the page: enough to see and drag, small to send


def create_app(out_dir: str | Path, reviewer: str, *, hash_in_background: bool = True) -> FastAPI:
    """The app for one output folder.

    Args:
        out_dir: an ``echoquant analyze`` output folder.
        reviewer: the name decisions are recorded under unless a request names another.
        hash_in_background: hash every input in a background thread (stale marks in the list).
    """
    store = ReviewStore(out_dir)
    store.write_reviewed()
    app = FastAPI(title="echoquant review", version=__version__,
                  description="Over-read of an echoquant analyze output folder.")
    app.state.store, app.state.reviewer = store, reviewer
    if hash_in_background:
        threading.Thread(target=store.hash_all, daemon=True, name="review-hash").start()

    @app.exception_handler(ReviewError)
    async def _review_error(_: Request, exc: ReviewError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(EchoquantError)
    async def _input_error(_: Request, exc: EchoquantError) -> JSONResponse:
        # e.g. the input file cannot be read any more when re-measuring
        return JSONResponse({"detail": f"{exc.code}: {exc}"}, status_code=409)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/clips")
    def clips(reviewer: str | None = Query(None, max_length=80)) -> dict[str, Any]:
        who = reviewer or app.state.reviewer
        return {"reviewer": who, "clips": store.list(who), "exclude_reasons": list(EXCLUDE_REASONS),
                "out": str(store.out)}

    @app.get("/api/clips/{clip_id}")
    def clip(clip_id: str, reviewer: str | None = Query(None, max_length=80)) -> dict[str, Any]:
        who = reviewer or app.state.reviewer
        if clip_id in store.clips:
            store.input_sha(clip_id)  # the page shows a changed input as stale at once
        return _detail(store, clip_id, who)

    @app.get("/api/clips/{clip_id}/frames.jpg")
    def frames(clip_id: str) -> Response:
        store.summary(clip_id)  # 404 for an unknown clip
        sha = store.input_sha(clip_id)
        return Response(_sprite(str(store.clips[clip_id].row["path"]), sha)[0], media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/clips/{clip_id}/decision")
    def decision(clip_id: str, payload: Any = Body(...)) -> dict[str, Any]:
        return store.decide(clip_id, payload, app.state.reviewer)

    @app.get("/api/decisions")
    def decisions() -> list[dict[str, Any]]:
        return store.decisions()

    @app.get("/out/{path:path}")
    def out_file(path: str) -> FileResponse:
        return FileResponse(_inside(store.out, path))

    return app


def _inside(root: Path, relative: str) -> Path:
    """``root / relative`` if it is a file under ``root`` (links resolved), else a 404."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise ReviewError(f"no file {relative!r} in the output folder", status=404)
    return target


@functools.lru_cache(maxsize=8)
def _sprite(path: str, sha: str | None) -> tuple[bytes, dict]:
    """The loop's sprite (cached per file content: a changed file is read again)."""
    from echoquant.io import read_cine

    data, layout = frame_sprite(read_cine(path, require_loop=True).frames)
    return data, layout.to_dict()


def _thin(points: list | None) -> list | None:
    if points is None:
        return None
    step = max(1, -(-len(points) // _MAX_CONTOUR_POINTS))
    kept = points[::step]
    if kept[-1] != points[-1]:
        kept.append(points[-1])  # an open apical trace keeps both mitral hinge points
    return [[round(x, 2), round(y, 2)] for x, y in kept]


def _curve(result: dict[str, Any]) -> dict[str, Any]:
    curves = result.get("curves") or {}
    for key, label in (("volume_ml", "volume (mL)"), ("area_mm2", "area (mm²)"), ("volume_px3", "volume (px³)"),
                       ("area_px2", "area (px²)")):
        if key in curves:
            return {"name": key, "label": label, "values": curves[key]}
    return {"name": None, "label": None, "values": []}


def _detail(store: ReviewStore, clip_id: str, reviewer: str) -> dict[str, Any]:
    """Everything the clip page shows."""
    out = store.summary(clip_id, reviewer)
    record = store.record(clip_id, reviewer) or {}
    result = record.get("result") or {}
    cine = result.get("cine") or {}
    decision = store.decision_of(clip_id, reviewer)
    edits = ({k: decision.get(k) for k in ("ed_frames", "es_frames", "contours")}
             if decision is not None and decision["action"] == "edit" else None)
    contours: list | None = None
    editable, why, picture = False, None, None
    if store.clips[clip_id].row.get("mode") == "mmode":
        why = "an M-mode strip: accept or exclude it (there is no contour to edit)"
        overlay = store.out / "overlays" / f"{clip_id}.png"
        picture = f"/out/overlays/{clip_id}.png" if overlay.is_file() else None
    else:
        try:
            state = store.state(clip_id)
            contours = [_thin(None if c is None else c.tolist()) for c in state.contours]
            editable = True
        except ReviewError as exc:
            why = str(exc)
    if edits and contours is not None:
        for t, pts in (edits.get("contours") or {}).items():
            contours[int(t)] = pts
    n, h, w = cine.get("n_frames"), cine.get("height"), cine.get("width")
    frames = None
    if n and h and w:
        frames = {**sprite_layout(n, h, w).to_dict(), "url": f"/api/clips/{clip_id}/frames.jpg",
                  "width": w, "height": h, "fps": cine.get("fps")}
    out.update({
        "curve": _curve(result), "ed_frames": result.get("ed_frames") or [], "es_frames": result.get("es_frames") or [],
        "segment_names": result.get("segment_names"), "contours": contours, "frames": frames, "edits": edits,
        "editable": editable and out["status"] == "ok", "not_editable_reason": why, "picture": picture,
        "original": {k: store.clips[clip_id].row.get(k) for k in out["values"]},
        "history": [d for d in store.decisions() if d["clip_id"] == clip_id and d["reviewer"] == reviewer][-20:],
    })
    for d in out["history"]:
        d.pop("row_after", None)
    return out
