"""The over-read (``echoquant review``): reader edits in the measurement, the clip state,
the JSON API (every endpoint, bad requests, path traversal, concurrent decisions), the
records, compare after a review, and the page driven in a real browser."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from echoquant.batch import BatchOptions, run_batch
from echoquant.export.clipstate import ClipState, remeasure
from echoquant.export.tables import read_record, result_row
from echoquant.quant.edits import ReaderEdits, polygon_mask
from tests.test_batch import _small_case

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from echoquant.review.app import create_app  # noqa: E402
from echoquant.review.store import ReviewStore  # noqa: E402

N_CLIPS = 6


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An analysed batch of six generated loops (read-only: tests copy it)."""
    from echoquant import Analyzer

    tmp = tmp_path_factory.mktemp("review")
    for k in range(N_CLIPS):
        _small_case(tmp, f"loop{k}", 900 + k)
    out = tmp / "out"
    run_batch([tmp / "study"], out, Analyzer(device="cpu"), BatchOptions(workers=0))
    return out


@pytest.fixture()
def out(analysed: Path, tmp_path: Path) -> Path:
    """A fresh copy of the analysed folder (the inputs stay where they are)."""
    dst = tmp_path / "out"
    shutil.copytree(analysed, dst)
    return dst


@pytest.fixture()
def client(out: Path) -> TestClient:
    return TestClient(create_app(out, "alice", hash_in_background=False))


def _ok_clips(out: Path) -> list[dict]:
    df = pd.read_csv(out / "results.csv", dtype={"patient_id": str})
    return df[(df["status"] == "ok") & df["lvef_pct"].notna()].to_dict("records")


# ---------------------------------------------------------------- measurement with edits


def test_polygon_mask_area_matches_the_polygon() -> None:
    square = np.array([[10.5, 10.5], [30.5, 10.5], [30.5, 40.5], [10.5, 40.5]], float)
    assert polygon_mask(square, (64, 64)).sum() == 20 * 30
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = np.column_stack([32 + 20 * np.cos(t), 32 + 20 * np.sin(t)])
    assert polygon_mask(circle, (64, 64)).sum() == pytest.approx(np.pi * 400, rel=0.01)
    with pytest.raises(ValueError, match="at least 3"):
        polygon_mask(np.zeros((2, 2)), (8, 8))


def test_reader_edits_are_checked_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="both ed_frames and es_frames"):
        ReaderEdits((1,), None).check(10, (8, 8))
    with pytest.raises(ValueError, match="before ES frame"):
        ReaderEdits((5,), (3,)).check(10, (8, 8))
    with pytest.raises(ValueError, match="before the next beat"):
        ReaderEdits((1, 4), (6, 8)).check(10, (8, 8))
    with pytest.raises(ValueError, match="frames 0..9"):
        ReaderEdits(contours={12: np.array([[1, 1], [5, 1], [5, 5]], float)}).check(10, (8, 8))
    beats = ReaderEdits((1, 6), (3, 8)).beats()
    assert [(b.ed, b.es, b.next_ed) for b in beats] == [(1, 3, 6), (6, 8, None)]


def test_remeasure_without_edits_gives_the_analysed_row(analysed: Path) -> None:
    """Re-measuring from the saved segmentation is the same code as analyze: same values."""
    for rec_path in sorted((analysed / "clips").glob("*.json")):
        row = read_record(rec_path)["row"]
        if row["status"] != "ok":
            continue
        state = ClipState.read(analysed / "masks" / f"{rec_path.stem}.npz")
        again = result_row(remeasure(row["path"], state), clip_id=row["clip_id"],
                           content_sha256=row["content_sha256"])
        diff = {k: (row[k], again[k]) for k in row if k != "elapsed_s" and row[k] != again[k]}
        assert not diff, diff


def test_moved_frames_and_redrawn_border_change_the_values_as_geometry_says(analysed: Path) -> None:
    row = _ok_clips(analysed)[0]
    state = ClipState.read(analysed / "masks" / f"{row['clip_id']}.npz")
    base = remeasure(row["path"], state)
    ed, es = base.ed_frames, base.es_frames
    # ES set at ED: no ejection at all in that beat
    same = remeasure(row["path"], state, ReaderEdits((ed[0],), (ed[0] + 1,)))
    assert same.quant.summary["beat_source"] == "reader"
    assert same.quant.beats[0].ed_frame == ed[0] and same.quant.beats[0].es_frame == ed[0] + 1
    # the ED border drawn 10 % smaller in every direction: ED volume about 0.9^3 of before
    c = state.contours[ed[0]]
    centre = c.mean(axis=0)
    shrunk = remeasure(row["path"], state, ReaderEdits((ed[0],), (es[0],), {ed[0]: centre + 0.9 * (c - centre)}))
    ratio = shrunk.quant.beats[0].edv_ml / base.quant.beats[0].edv_ml
    assert ratio == pytest.approx(0.9 ** 3, abs=0.05)
    assert shrunk.quant.beats[0].esv_ml == pytest.approx(base.quant.beats[0].esv_ml)
    # a border redrawn where it was traced leaves the volume where it was
    kept = remeasure(row["path"], state, ReaderEdits((ed[0],), (es[0],), {ed[0]: c}))
    assert kept.quant.beats[0].edv_ml == pytest.approx(base.quant.beats[0].edv_ml, rel=0.02)


def test_clip_state_round_trip(analysed: Path, tmp_path: Path) -> None:
    path = next((analysed / "masks").glob("*.npz"))
    state = ClipState.read(path)
    again = ClipState.read(state.write(tmp_path / "x.npz"))
    assert np.array_equal(state.labels, again.labels)
    assert all((a is None and b is None) or np.allclose(a, b) for a, b in zip(state.contours, again.contours))
    assert again.facts == state.facts and again.settings == state.settings


# ---------------------------------------------------------------- API


def test_list_is_blind_sorted_worst_first_and_complete(client: TestClient, out: Path) -> None:
    r = client.get("/api/clips")
    assert r.status_code == 200
    body = r.json()
    assert body["reviewer"] == "alice"
    clips = body["clips"]
    assert len(clips) == N_CLIPS
    widths = [math.inf if c["interval_width"] is None else c["interval_width"] for c in clips]
    assert widths == sorted(widths, reverse=True)
    first = clips[0]
    for key in ("clip_id", "path", "values", "qc_flags", "qc_pass", "review_status", "view", "stale"):
        assert key in first
    assert not any("group" in k for c in clips for k in c)
    assert client.get("/").status_code == 200 and "echoquant review" in client.get("/").text


def test_clip_detail_and_frames(client: TestClient, out: Path) -> None:
    cid = _ok_clips(out)[0]["clip_id"]
    d = client.get(f"/api/clips/{cid}").json()
    n = d["frames"]["n_frames"]
    assert len(d["contours"]) == n and len(d["curve"]["values"]) == n
    assert d["ed_frames"] and d["es_frames"] and d["editable"] and d["stale"] is False
    img = client.get(d["frames"]["url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:2] == b"\xff\xd8"
    assert client.get("/api/clips/nope").status_code == 404
    assert client.get("/api/clips/nope/frames.jpg").status_code == 404


def test_decisions_are_recorded_and_applied(client: TestClient, out: Path) -> None:
    clips = _ok_clips(out)
    a, b, c = (x["clip_id"] for x in clips[:3])
    assert client.post(f"/api/clips/{a}/decision", json={"action": "accept"}).status_code == 200
    r = client.post(f"/api/clips/{b}/decision", json={"action": "exclude", "reason": "wrong view"})
    assert r.status_code == 200 and r.json()["reason"] == "wrong view"
    d = client.get(f"/api/clips/{c}").json()
    ed, es = d["ed_frames"], d["es_frames"]
    moved = [e + 1 for e in es]
    r = client.post(f"/api/clips/{c}/decision", json={"action": "edit", "ed_frames": ed, "es_frames": moved})
    assert r.status_code == 200, r.text
    edit = r.json()
    assert edit["after"]["beat_source"] == "reader" and edit["before"]["lvef_pct"] == clips[2]["lvef_pct"]
    assert str(edit["after"]["es_frames"]) == ";".join(map(str, moved)) or edit["after"]["es_frames"] == moved[0]

    lines = [json.loads(x) for x in (out / "review" / "decisions.jsonl").read_text().splitlines()]
    assert [x["action"] for x in lines] == ["accept", "exclude", "edit"]
    for x in lines:
        for key in ("reviewer", "time_utc", "clip_id", "input_sha256", "model", "action", "reason", "before", "after"):
            assert key in x
        assert x["reviewer"] == "alice" and len(x["input_sha256"]) == 64
    reviewed = pd.read_csv(out / "review" / "reviewed.csv").set_index("clip_id")
    assert reviewed.loc[a, "review_status"] == "accepted"
    assert reviewed.loc[b, "review_status"] == "excluded" and reviewed.loc[b, "review_reason"] == "wrong view"
    assert reviewed.loc[c, "review_status"] == "edited"
    assert reviewed.loc[c, "lvef_pct"] == pytest.approx(edit["after"]["lvef_pct"], rel=1e-4)
    assert "reader_edited" in reviewed.loc[c, "qc_flags"]
    results = pd.read_csv(out / "results.csv").set_index("clip_id")
    assert results.loc[c, "lvef_pct"] == pytest.approx(clips[2]["lvef_pct"])  # results.csv never changes
    # the list shows the new state
    state = {x["clip_id"]: x["review_status"] for x in client.get("/api/clips").json()["clips"]}
    assert state[a] == "accepted" and state[b] == "excluded" and state[c] == "edited"
    assert len(client.get("/api/decisions").json()) == 3


@pytest.mark.parametrize("payload, status, words", [
    ({"action": "delete"}, 400, "action must be one of"),
    ({"action": "exclude"}, 400, "needs a reason"),
    ({"action": "accept", "colour": 1}, 400, "unknown fields"),
    ({"action": "edit"}, 400, "needs ed_frames"),
    ({"action": "edit", "ed_frames": [0], "es_frames": "x"}, 400, "list of frame numbers"),
    ({"action": "edit", "ed_frames": [5], "es_frames": [2]}, 422, "before ES frame"),
    ({"action": "edit", "contours": {"0": [[1, 2]]}}, 400, "3-2000 finite"),
    ({"action": "edit", "contours": {"9999": [[1, 2], [30, 2], [30, 40]]}}, 422, "frames 0.."),
    ({"action": "accept", "reviewer": ""}, 400, "reviewer must be"),
    (["accept"], 400, "JSON object"),
])
def test_bad_decisions_get_4xx_with_a_message(client: TestClient, out: Path, payload, status, words) -> None:
    cid = _ok_clips(out)[0]["clip_id"]
    r = client.post(f"/api/clips/{cid}/decision", json=payload)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert (out / "review" / "decisions.jsonl").read_text() == ""


def test_malformed_json_and_unknown_clip(client: TestClient, out: Path) -> None:
    cid = _ok_clips(out)[0]["clip_id"]
    r = client.post(f"/api/clips/{cid}/decision", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    assert client.post("/api/clips/nope/decision", json={"action": "accept"}).status_code == 404


def test_failed_clip_can_be_excluded_not_edited(out: Path, tmp_path: Path) -> None:
    # a failed row (unreadable file) beside the good ones
    df = pd.read_csv(out / "results.csv", dtype=str)
    bad = df.iloc[[0]].copy()
    bad["clip_id"], bad["status"], bad["path"] = "broken-0000000000", "failed", str(tmp_path / "gone.dcm")
    pd.concat([df, bad]).to_csv(out / "results.csv", index=False)
    c = TestClient(create_app(out, "alice", hash_in_background=False))
    r = c.post("/api/clips/broken-0000000000/decision", json={"action": "edit", "ed_frames": [0], "es_frames": [1]})
    assert r.status_code == 409 and "only analysed B-mode loops" in r.json()["detail"]
    assert c.post("/api/clips/broken-0000000000/decision", json={"action": "exclude", "reason": "unreadable"}
                  ).status_code == 200


@pytest.mark.parametrize("path", ["../results.csv", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "masks/../../x",
                                  "review/../../../etc/hostname"])
def test_path_traversal_is_refused(client: TestClient, path: str) -> None:
    r = client.get(f"/out/{path}")
    assert r.status_code == 404


def test_files_under_out_are_served(client: TestClient) -> None:
    r = client.get("/out/results.csv")
    assert r.status_code == 200 and r.text.startswith("path,")


def test_stale_input_is_shown_and_not_edited(out: Path, tmp_path: Path) -> None:
    clip = _ok_clips(out)[0]
    src = Path(clip["path"])
    backup = tmp_path / "backup.dcm"
    shutil.copy(src, backup)
    try:
        with open(src, "ab") as fh:
            fh.write(b"\0\0")  # the file changed after it was analysed
        c = TestClient(create_app(out, "alice", hash_in_background=False))
        d = c.get(f"/api/clips/{clip['clip_id']}").json()
        assert d["stale"] is True
        r = c.post(f"/api/clips/{clip['clip_id']}/decision", json={"action": "edit", "ed_frames": [0],
                                                                   "es_frames": [1]})
        assert r.status_code == 409 and "changed since it was analysed" in r.json()["detail"]
    finally:
        shutil.copy(backup, src)


def test_concurrent_decisions_are_all_kept(out: Path) -> None:
    """Two readers on two servers (two stores) and many tabs at once lose no decision."""
    stores = [ReviewStore(out), ReviewStore(out)]
    cids = [c["clip_id"] for c in _ok_clips(out)]

    def post(i: int) -> None:
        store = stores[i % 2]
        store.decide(cids[i % len(cids)], {"action": "accept" if i % 3 else "exclude", "reason": f"r{i}"},
                     reviewer=f"reader{i % 2}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, range(40)))
    lines = (out / "review" / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 40 and len({json.loads(x)["decision_id"] for x in lines}) == 40
    assert sorted(json.loads(x)["reason"] for x in lines) == sorted(f"r{i}" for i in range(40))
    fresh = ReviewStore(out)
    assert len(fresh.decisions()) == 40
    reviewed = pd.read_csv(out / "review" / "reviewed.csv")
    assert reviewed["review_status"].notna().sum() == len(cids)


# ---------------------------------------------------------------- statistics after review


def _groups(out: Path, tmp_path: Path) -> Path:
    ids = sorted(pd.read_csv(out / "results.csv", dtype={"patient_id": str})["patient_id"].dropna().unique())
    path = tmp_path / "groups.csv"
    pd.DataFrame({"subject_id": ids, "group": ["control", "treated"] * (len(ids) // 2)}).to_csv(path, index=False)
    return path


def _compare(out: Path, groups: Path, dest: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "echoquant.cli", "compare", str(out / "results.csv"), "--groups",
                           str(groups), "-o", str(dest), "--clip-level", *extra], capture_output=True, text=True,
                          timeout=300)


def test_compare_uses_the_review_and_reports_it(out: Path, tmp_path: Path) -> None:
    store = ReviewStore(out)
    clips = _ok_clips(out)
    store.decide(clips[0]["clip_id"], {"action": "exclude", "reason": "poor image quality"}, "alice")
    d = store.decision_of(clips[1]["clip_id"], None)
    assert d is None
    rec = read_record(out / "clips" / f"{clips[1]['clip_id']}.json")["result"]
    ed, es = rec["ed_frames"], rec["es_frames"]
    # the reader draws the ES border of the first beat 5 % smaller
    c = store.state(clips[1]["clip_id"]).contours[es[0]]
    smaller = (c.mean(axis=0) + 0.95 * (c - c.mean(axis=0))).tolist()
    edit = store.decide(clips[1]["clip_id"], {"action": "edit", "ed_frames": ed, "es_frames": es,
                                              "contours": {str(es[0]): smaller}}, "alice")
    assert edit["after"]["qc_pass"] and edit["after"]["lvef_pct"] > edit["before"]["lvef_pct"]
    for c in clips[2:]:
        store.decide(c["clip_id"], {"action": "accept"}, "alice")
        store.decide(c["clip_id"], {"action": "accept"}, "bob")
    groups = _groups(out, tmp_path)
    run = _compare(out, groups, tmp_path / "stats")
    assert run.returncode == 0, run.stderr
    excluded = pd.read_csv(tmp_path / "stats" / "excluded.csv")
    assert "excluded by reviewer (poor image quality)" in set(excluded["reason"])
    subjects = pd.read_csv(tmp_path / "stats" / "subjects.csv", dtype={"subject_id": str})
    edited = subjects.loc[subjects["subject_id"] == str(clips[1]["patient_id"]), "lvef_pct"]
    assert edited.iloc[0] == pytest.approx(edit["after"]["lvef_pct"], rel=1e-4)
    report = json.loads((tmp_path / "stats" / "stats.json").read_text())
    s = report["review"]["summary"]
    assert (s["n_reviewed"], s["n_excluded"], s["n_edited"]) == (len(clips), 1, 1)
    assert s["excluded_by_reason"] == {"poor image quality": 1}
    assert any(r["endpoint"] == "lvef_pct" and r["reader_a"] == "alice" and r["reader_b"] == "bob"
               and r["bias"] == pytest.approx(0.0) for r in report["review"]["agreement"])
    assert any("diff_without_review" in r for r in report["review"]["effects"])
    html = (tmp_path / "stats" / "report.html").read_text()
    assert "Over-read" in html and "Inter-reader agreement" in html and "poor image quality: 1" in html
    # --no-review: the automated values, the excluded clip back in
    run = _compare(out, groups, tmp_path / "raw", "--no-review")
    assert run.returncode == 0, run.stderr
    assert "review" not in json.loads((tmp_path / "raw" / "stats.json").read_text())
    assert "excluded by reviewer" not in (tmp_path / "raw" / "excluded.csv").read_text()


def test_reader_agreement_icc_and_bias() -> None:
    from echoquant.cohort.stats import reader_agreement

    rng = np.random.default_rng(0)
    truth = rng.normal(50, 10, 200)
    a, b = truth + rng.normal(0, 2, 200), truth + 3 + rng.normal(0, 2, 200)
    r = reader_agreement(a, b)
    assert r["bias"] == pytest.approx(3, abs=0.5)
    # ICC(A,1) = var_t / (var_t + bias^2 / 2 * ... ) ~ 100 / (100 + 4 + 4.5) for these numbers
    assert r["icc"] == pytest.approx(100 / (100 + 4 + 4.5), abs=0.04)
    assert r["loa_low"] < r["bias"] < r["loa_high"]


# ---------------------------------------------------------------- the page in a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture()
def server(out: Path):
    """The app on a real socket (uvicorn in a thread)."""
    import uvicorn

    from echoquant.review.server import free_port

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(out, "alice"), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_page_in_a_real_browser(server: str, out: Path, tmp_path: Path) -> None:
    """Accept one clip, exclude one with a reason, move the ES frame of one, drag a
    contour point of one; the records and compare show exactly those changes."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium on this machine: apt-get install chromium (CI installs it in .ci/run)")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/?reviewer=carol")
        page.wait_for_selector("#clip-list tbody tr")
        names = page.eval_on_selector_all("#clip-list tbody tr", "rows => rows.map(r => r.dataset.clip)")
        assert len(names) == N_CLIPS

        def current() -> str:
            page.wait_for_function("() => S.detail && S.sprite")
            return page.evaluate("S.detail.clip_id")

        # 1. accept the first clip with the keyboard
        first = current()
        page.keyboard.press("a")
        page.wait_for_function(f"() => S.detail && S.detail.clip_id !== '{first}'")
        # 2. exclude the second with a reason from the list plus text
        second = current()
        page.select_option("#exclude-reason", "poor image quality")
        page.fill("#exclude-text", "apex cut off")
        page.click("#exclude")
        page.wait_for_function(f"() => S.detail && S.detail.clip_id !== '{second}'")
        # 3. move the ES frame of the third: step from ED to ES + 2, press s, save
        third = current()
        ed0, es0 = page.evaluate("[S.ed[0], S.es[0]]")
        for _ in range(es0 + 2 - page.evaluate("S.frame")):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("s")
        assert page.evaluate("S.es[0]") == es0 + 2
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#decision-note').textContent.includes('edit recorded')")
        # 4. next clip: drag one contour point at its ED frame, save
        page.keyboard.press("j")
        page.wait_for_function(f"() => S.detail && S.detail.clip_id !== '{third}'")
        fourth = current()
        frame = page.evaluate("S.frame")
        assert frame == page.evaluate("S.ed[0]")
        box = page.locator("#loop").bounding_box()
        i = page.evaluate("Math.floor(S.contours[S.frame].length / 3)")
        x, y = page.evaluate(f"imageToCanvas(S.contours[S.frame][{i}])")
        cw = page.evaluate("document.querySelector('#loop').width")
        k = box["width"] / cw
        before_pt = page.evaluate(f"S.contours[S.frame][{i}]")
        page.mouse.move(box["x"] + x * k, box["y"] + y * k)
        page.mouse.down()
        page.mouse.move(box["x"] + (x + 25) * k, box["y"] + (y + 10) * k, steps=5)
        page.mouse.up()
        after_pt = page.evaluate(f"S.contours[S.frame][{i}]")
        assert after_pt != before_pt
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#decision-note').textContent.includes('edit recorded')")
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
    assert not errors, errors

    lines = [json.loads(x) for x in (out / "review" / "decisions.jsonl").read_text().splitlines()]
    assert [(x["clip_id"], x["action"]) for x in lines] == [(first, "accept"), (second, "exclude"), (third, "edit"),
                                                            (fourth, "edit")]
    assert all(x["reviewer"] == "carol" for x in lines)
    assert lines[1]["reason"] == "poor image quality: apex cut off"
    assert lines[2]["es_frames"][0] == es0 + 2 and lines[2]["ed_frames"][0] == ed0 and not lines[2]["contours"]
    assert list(lines[3]["contours"]) == [str(frame)]
    moved = lines[3]["contours"][str(frame)][i]
    assert moved == pytest.approx(after_pt, abs=0.01)
    assert lines[3]["after"]["edv_ml"] != lines[3]["before"]["edv_ml"]

    reviewed = pd.read_csv(out / "review" / "reviewed.csv").set_index("clip_id")
    assert reviewed["review_status"].value_counts().to_dict() == {"edited": 2, "accepted": 1, "excluded": 1}
    assert reviewed.loc[third, "es_frames"] .split(";")[0] == str(es0 + 2)
    results = pd.read_csv(out / "results.csv").set_index("clip_id")
    for cid in (first, second):
        assert reviewed.loc[cid, "lvef_pct"] == pytest.approx(results.loc[cid, "lvef_pct"])

    run = _compare(out, _groups(out, tmp_path), tmp_path / "stats")
    assert run.returncode == 0, run.stderr
    s = json.loads((tmp_path / "stats" / "stats.json").read_text())["review"]["summary"]
    assert (s["n_reviewed"], s["n_accepted"], s["n_excluded"], s["n_edited"]) == (4, 1, 1, 2)
    excluded = pd.read_csv(tmp_path / "stats" / "excluded.csv")
    assert (excluded["reason"] == "excluded by reviewer (poor image quality: apex cut off)").sum() == 1


def test_mmode_strip_is_accepted_or_excluded_not_edited(out: Path) -> None:
    """An M-mode row (here a copy of a loop's row marked as one) is listed with its values;
    its page says why it cannot be edited and an edit is refused."""
    df = pd.read_csv(out / "results.csv", dtype=str)
    row = df[df["status"] == "ok"].iloc[[0]].copy()
    src = row["clip_id"].iloc[0]
    row["clip_id"], row["mode"] = "strip-0000000000", "mmode"
    pd.concat([df, row]).to_csv(out / "results.csv", index=False)
    shutil.copy(out / "clips" / f"{src}.json", out / "clips" / "strip-0000000000.json")
    c = TestClient(create_app(out, "alice", hash_in_background=False))
    d = c.get("/api/clips/strip-0000000000").json()
    assert not d["editable"] and d["not_editable_reason"].startswith("an M-mode strip")
    r = c.post("/api/clips/strip-0000000000/decision", json={"action": "edit", "ed_frames": [0], "es_frames": [1]})
    assert r.status_code == 409
    assert c.post("/api/clips/strip-0000000000/decision", json={"action": "accept"}).status_code == 200


def test_cli_serves_on_a_free_port_and_warns_off_localhost(out: Path) -> None:
    """`echoquant review OUT --no-browser`: the app answers; a non-local --host is warned about."""
    import socket

    from echoquant.review.server import free_port

    port = free_port("0.0.0.0")
    proc = subprocess.Popen([sys.executable, "-m", "echoquant.cli", "review", str(out), "--no-browser", "--port",
                             str(port), "--host", "0.0.0.0", "--reviewer", "dana"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.time() + 60, None
        while time.time() < deadline and body is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                import httpx

                body = httpx.get(f"http://127.0.0.1:{port}/api/clips", timeout=10).json()
            except OSError:
                time.sleep(0.3)
        assert body is not None and body["reviewer"] == "dana" and len(body["clips"]) == N_CLIPS
    finally:
        proc.terminate()
        text = proc.communicate(timeout=30)[0]
    assert "warning: serving on 0.0.0.0" in text and "no login" in text
