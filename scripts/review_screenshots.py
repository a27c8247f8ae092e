"""Screenshots of the review page for the docs: the clip list and a clip page after an
edit (old and new values side by side).

    python scripts/review_screenshots.py OUT     # OUT: an analyze output folder (copied, not changed)

Writes ``docs/review_list.png`` and ``docs/review_clip.png``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--docs", type=Path, default=Path("docs"))
    args = ap.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from echoquant.review.app import create_app
    from echoquant.review.server import free_port

    tmp = Path(tempfile.mkdtemp(prefix="review_shots_"))
    folder = tmp / "out"
    shutil.copytree(args.out, folder, ignore=shutil.ignore_patterns("review"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(folder, "reader1"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/?reviewer=reader1")
        page.wait_for_function("() => S.detail && S.sprite")
        page.keyboard.press("a")  # accept the first, go to the second
        page.wait_for_function("() => S.index === 1 && S.detail && S.sprite")
        page.select_option("#exclude-reason", "poor image quality")
        page.click("#exclude")
        page.wait_for_function("() => S.index === 2 && S.detail && S.sprite")
        page.screenshot(path=str(args.docs / "review_list.png"))
        # back to the first clip: drag an ES-frame contour point inward and save
        page.keyboard.press("k")
        page.keyboard.press("k")
        page.wait_for_function("() => S.index === 0 && S.detail && S.detail.clip_id === S.shown[0].clip_id && S.sprite")
        box = page.locator("#loop").bounding_box()
        k = box["width"] / page.evaluate("document.querySelector('#loop').width")
        # on every beat's ES frame, drag a point of the free wall 30 % towards the centre
        for b in range(page.evaluate("S.es.length")):
            page.evaluate(f"S.frame = S.es[{b}]; draw()")
            n = page.evaluate("S.contours[S.frame].length")
            cx, cy = page.evaluate("(() => { const c = S.contours[S.frame]; const m = c.reduce((a, p) => "
                                   "[a[0] + p[0] / c.length, a[1] + p[1] / c.length], [0, 0]); "
                                   "return imageToCanvas(m); })()")
            for i in (n // 2,):
                x, y = page.evaluate(f"imageToCanvas(S.contours[S.frame][{i}])")
                page.mouse.move(box["x"] + x * k, box["y"] + y * k)
                page.mouse.down()
                page.mouse.move(box["x"] + (x + 0.3 * (cx - x)) * k, box["y"] + (y + 0.3 * (cy - y)) * k, steps=4)
                page.mouse.up()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#decision-note').textContent.includes('recorded')")
        page.evaluate("S.frame = S.es[0]; draw()")
        page.screenshot(path=str(args.docs / "review_clip.png"))
        browser.close()
    server.should_exit = True
    import os
    if not os.environ.get('KEEP'):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(tmp)
    print(f"wrote {args.docs / 'review_list.png'} and {args.docs / 'review_clip.png'}")


if __name__ == "__main__":
    main()
