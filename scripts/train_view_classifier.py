"""Train the apical view classifier (A4C / A2C) on CAMUS and write models/echoquant_view_cnn.

    python scripts/train_view_classifier.py ../shared/camus [--out models/echoquant_view_cnn]

CAMUS is converted once (as ``echoquant convert camus`` does) into a temporary folder;
the classifier trains on the train split's ED/ES frames and reports its accuracy on
the valid split. Deterministic on CPU for a given seed. About 2.5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from echoquant.segment.adapters import CAMUS_SOURCES, convert_camus
from echoquant.segment.views import default_view_model_dir, train_view_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("camus", type=Path, help="the CAMUS copy (patients.csv plus database_nifti)")
    ap.add_argument("--out", type=Path, default=default_view_model_dir())
    ap.add_argument("--converted", type=Path, default=None,
                    help="an existing `echoquant convert camus` output (skips the conversion)")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="echoquant_camus_views_") as tmp:
        folder = args.converted
        if folder is None:
            folder = Path(tmp)
            for name, calibrated in CAMUS_SOURCES.items():
                if (args.camus / name).is_dir():
                    convert_camus(args.camus / name, folder, calibrated=calibrated, splits=("train", "valid"))
        meta = train_view_classifier(folder, args.out, epochs=args.epochs, seed=args.seed)
    meta["train_minutes"] = round((time.perf_counter() - start) / 60, 1)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
