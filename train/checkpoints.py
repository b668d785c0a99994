"""A run's files on disk: saving a model with its metadata, the per-epoch checkpoint, resuming, lineage.

`out/model.keras` is the best epoch so far (by validation accuracy), `out/last.keras` the latest one and
`out/state.json` the epoch count, the history and the training record; `--resume` continues from them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge.files import atomic_path, write_atomic
from edge.model_file import ModelInfo, embed_in_keras, read_info
from train.data import holdout_description
from train.options import TrainOptions

log = logging.getLogger(__name__)


def save_model(model, path: Path, info: ModelInfo) -> None:
    """Save a Keras model with its metadata embedded; the file appears whole or not at all."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        embed_in_keras(tmp, info)


def checkpointer(out: Path, history: dict[str, list[float]], state: dict[str, Any], info: ModelInfo):
    """A callback that keeps the best model (by validation accuracy), the last one and the history."""
    import keras

    class Checkpointer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            state["epoch"] = epoch + 1
            if logs.get("val_accuracy", -1.0) > state.get("best_val_accuracy", -1.0):
                state["best_val_accuracy"] = float(logs["val_accuracy"])
                state["best_epoch"] = epoch + 1
                info.training["best_epoch"] = epoch + 1
                save_model(self.model, out / "model.keras", info)
            save_model(self.model, out / "last.keras", info)
            write_atomic(out / "state.json", json.dumps({"state": state, "history": history,
                                                         "training": info.training}, indent=1))
            log.info("epoch %d: val_accuracy %.4f (best %.4f at epoch %d)", epoch + 1,
                     logs.get("val_accuracy", float("nan")), state["best_val_accuracy"], state["best_epoch"])

    return Checkpointer()


def saved_run(options: TrainOptions) -> dict[str, Any] | None:
    """The state and history of the run in `out` when `--resume` is given and it has a checkpoint."""
    if options.resume and (options.out / "last.keras").is_file():
        return json.loads((options.out / "state.json").read_text())
    return None


def lineage(options: TrainOptions, saved: dict[str, Any] | None) -> dict[str, Any]:
    """The training record embedded in the model: this run and, for a warm start, the record of the run
    its starting weights came from (so a model's whole history travels with it). A resumed run keeps
    the record it started with; only its length changes."""
    if saved and "training" in saved:
        return {**saved["training"], "epochs": options.epochs}
    record: dict[str, Any] = {
        "run": options.out.resolve().name, "data": str(options.data), "arch": options.arch,
        "epochs": options.epochs, "init": None,
        "validation": holdout_description(options.val_fraction, options.seed)}
    if options.init is not None:
        before = read_info(options.init)
        record["init"] = {"path": str(options.init), "training": before.training if before else {}}
        record["arch"] = record["init"]["training"].get("arch", options.arch)  # the starting model's, not --arch
    return record


def epochs_before(training: dict[str, Any]) -> int:
    """How many epochs the starting weights of a run were trained for, through every warm start."""
    init = training.get("init")
    if not isinstance(init, dict):
        return 0
    earlier = init.get("training") or {}
    return int(earlier.get("epochs") or 0) + epochs_before(earlier)
