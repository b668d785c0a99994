"""fer-train: a smoke training on tiny data, its outputs, strategies, architectures, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from train.augment import AugmentOptions
from train.cli import main as train_main
from train.data import FaceSet, Splits
from train.fit import build_strategy, class_weights, cosine_with_warmup, training_stream
from train.options import TrainOptions


def test_smoke_training_writes_model_and_report(tiny_run):
    for name in ("model.keras", "report.json", "curves.png", "confusion.png"):
        assert (tiny_run / name).stat().st_size > 0
    report = json.loads((tiny_run / "report.json").read_text())
    splits = [r["split"] for r in report["results"]]
    assert splits == ["validation", "PrivateTest", "PublicTest"]  # epochs picked on validation, not test
    assert report["data"]["validation"]["happy"] == 5  # 20% of 24, stratified
    assert len(report["history"]["val_accuracy"]) == report["epochs_run"] == 8
    assert report["results"][-1]["n"] == 28


def test_the_pattern_data_is_learnt(tiny_run):
    """The tiny data is separable: eight epochs must beat chance (1/7) well on every split."""
    report = json.loads((tiny_run / "report.json").read_text())
    assert all(r["accuracy"] > 0.3 for r in report["results"])


def test_resume_continues_from_the_last_checkpoint(tiny_kaggle, tmp_path):
    from train.fit import train

    options = TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=1, filters=4, batch_size=16, warmup_epochs=0)
    train(options)
    report = train(TrainOptions(**{**options.__dict__, "epochs": 2, "resume": True}))
    assert report["epochs_run"] == 2 and len(report["history"]["loss"]) == 2


def _epoch_losses(options: TrainOptions, **changes) -> list[float]:
    from train.fit import train

    return train(TrainOptions(**{**options.__dict__, **changes}))["history"]["loss"]


def test_resume_does_not_replay_the_first_epochs(tiny_kaggle, tmp_path):
    """Order and augmentation follow the stream's seed. With the learning rate near zero the weights stay
    put, so an epoch's loss is set by its batches alone: a resumed epoch 2 that replayed epoch 1's stream
    would repeat epoch 1's loss to the last digit."""
    options = TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=1, filters=4, batch_size=16, warmup_epochs=0,
                           learning_rate=1e-9)
    _epoch_losses(options)
    first, second = _epoch_losses(options, epochs=2, resume=True)
    assert second != first


def _with_recorded_epochs(model: Path, epochs: int, out: Path) -> Path:
    """A copy of a .keras model whose training record says it was trained for `epochs` epochs."""
    import zipfile

    from edge.model_file import METADATA_NAME

    with zipfile.ZipFile(model) as source, zipfile.ZipFile(out, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == METADATA_NAME:
                record = json.loads(data)
                record["training"]["epochs"] = epochs
                data = json.dumps(record).encode()
            copy.writestr(item, data)
    return out


def test_init_restarts_from_a_trained_model(tiny_run, tiny_kaggle, tmp_path):
    """A warm restart starts from the given weights (a near-zero learning rate keeps them), not new ones."""
    import keras

    from train.fit import train

    train(TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=1, filters=4, batch_size=16, warmup_epochs=0,
                       learning_rate=1e-9, val_fraction=0.2, init=tiny_run / "model.keras"))
    before = keras.models.load_model(tiny_run / "model.keras").get_weights()
    after = keras.models.load_model(tmp_path / "model.keras").get_weights()
    kernels = [(b, a) for b, a in zip(before, after) if b.ndim == 4]
    assert kernels and all(np.allclose(b, a, atol=1e-6) for b, a in kernels)
    assert json.loads((tmp_path / "report.json").read_text())["config"]["init"] == str(tiny_run / "model.keras")


def test_a_warm_start_continues_the_stream_after_the_starting_models_epochs(tiny_run, tiny_kaggle, tmp_path):
    """The same weights, recorded as trained for 8 or for 3 epochs, start streams 8 or 3 epochs on: with the
    learning rate near zero the first epoch's losses differ. A warm start that ignored the record would
    replay the first run's stream from its start and give the same loss both times."""
    options = TrainOptions(data=tiny_kaggle, out=tmp_path / "a", epochs=1, filters=4, batch_size=16,
                           warmup_epochs=0, val_fraction=0.2, learning_rate=1e-9, init=tiny_run / "model.keras")
    three = _with_recorded_epochs(tiny_run / "model.keras", 3, tmp_path / "three.keras")
    assert _epoch_losses(options) != _epoch_losses(options, out=tmp_path / "b", init=three)


def test_a_warm_start_records_its_history(tiny_run, tiny_kaggle, tmp_path):
    """The model carries the record of the run it started from, through --resume too."""
    import train.fit as fit
    from edge.model_file import read_info

    out = tmp_path / "warm"
    options = TrainOptions(data=tiny_kaggle, out=out, epochs=1, filters=4, batch_size=16, warmup_epochs=0,
                           val_fraction=0.2, init=tiny_run / "model.keras", arch="vgg")  # arch: ignored
    fit.train(options)
    fit.train(TrainOptions(**{**options.__dict__, "epochs": 2, "init": None, "resume": True}))
    training = read_info(out / "last.keras").training  # model.keras may hold epoch 1 (the best one)
    assert training["run"] == "warm" and training["epochs"] == 2 and training["arch"] == "compact"
    assert training["init"]["path"] == str(tiny_run / "model.keras")
    assert training["init"]["training"]["epochs"] == 8 and training["init"]["training"]["init"] is None


def test_init_with_another_input_contract_is_refused(tiny_run, tiny_kaggle, tmp_path, capsys):
    argv = [str(tiny_kaggle), "--out", str(tmp_path), "--size", "40", "--init", str(tiny_run / "model.keras")]
    assert train_main(argv) == 2
    assert "differs from this run's" in capsys.readouterr().err


def test_class_weights_favour_rare_classes():
    labels = np.repeat(np.arange(3), [100, 10, 100])
    weights = class_weights(labels, "sqrt", 3)
    assert weights[1] > weights[0] == pytest.approx(weights[2])
    assert weights[labels].mean() == pytest.approx(1.0)


def test_schedule_warms_up_then_decays():
    schedule = cosine_with_warmup(0.1, epochs=10, warmup=2)
    rates = [schedule(e) for e in range(10)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:])) and rates[-1] < 0.02


@pytest.mark.parametrize("name", ["default", "mirrored"])
def test_strategies_build(name):
    assert build_strategy(name).num_replicas_in_sync >= 1


def test_mobilenetv2_builds_with_the_tutorial_head():
    from edge.contract import InputSpec
    from train.models import build_mobilenetv2

    model = build_mobilenetv2(InputSpec(height=96, width=96, channels=3), 7, weights=None)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [128, 64, 7]
    assert model.output_shape == (None, 7)


def test_mobilenetv2_loads_offline_imagenet_weights():
    from edge.contract import InputSpec
    from train.models import build_mobilenetv2

    weights = ROOT.parent / "shared" / "weights" / "mobilenet_v2_0.35_224_no_top.imagenet.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} not present")
    model = build_mobilenetv2(InputSpec(height=96, width=96, channels=3), 7, weights=weights)
    assert np.abs(model.get_layer("base").get_weights()[0]).sum() > 0


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "no such file or folder"),
    (["{data}", "--epochs", "0"], "epochs must be at least 1"),
    (["{data}", "--val-fraction", "1.5"], "val_fraction must be between 0 and 1"),
    (["{data}", "--arch", "mobilenetv2", "--weights", "/no/such.h5"], "no such weights file"),
    (["{data}", "--cutmix", "1.5"], "cutmix must be between 0 and 1"),
    (["{data}", "--cutmix", "0.5", "--mixup", "0.2"], "choose mixup or cutmix"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tiny_kaggle, tmp_path, capsys):
    argv = [a.format(missing=tmp_path / "absent", data=tiny_kaggle) for a in argv] + ["--out", str(tmp_path)]
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_each_flag_fills_the_option_of_its_name_and_the_defaults_agree(tmp_path):
    from train.cli import options_from, parser

    assert options_from(parser().parse_args([str(tmp_path)])) == TrainOptions(data=tmp_path)
    argv = [str(tmp_path), "--lr", "0.05", "--teacher", "a.keras", "--teacher", "b.keras", "--weights", "none",
            "--erasing", "0.3", "--batch-size", "32"]
    assert options_from(parser().parse_args(argv)) == TrainOptions(
        data=tmp_path, learning_rate=0.05, teachers=(Path("a.keras"), Path("b.keras")), weights=None,
        augment=AugmentOptions(erasing=0.3), batch_size=32)


def test_the_report_config_has_one_flat_key_per_option(tmp_path):
    """report.json's config keeps the keys runs already on disk have: the augmentation options in place."""
    from train.options import options_dict

    teacher = tmp_path / "t.keras"
    config = options_dict(TrainOptions(data=tmp_path, teachers=(teacher,), augment=AugmentOptions(mixup=0.2)))
    keys = list(config)
    assert keys[keys.index("patience") + 1:keys.index("swa_start")] == ["erasing", "mixup", "cutmix"]
    assert config["mixup"] == 0.2 and config["teachers"] == [str(teacher)] and config["data"] == str(tmp_path)


def test_compact_is_the_cheap_edge_layout_and_vgg_the_heavy_one():
    from train.architectures import input_spec_for
    from train.models import build, count_macs

    compact = build("compact", input_spec_for("compact"), 7)
    vgg = build("vgg", input_spec_for("vgg"), 7)
    assert compact.name == "compact_w16" and vgg.name == "vgg_w24"
    assert compact.output_shape == vgg.output_shape == (None, 7)
    # Multiply-accumulates set the int8 invoke time (about 40 per ns on one core here): see edge bench.
    assert 25e6 < count_macs(compact) < 35e6 < 70e6 < count_macs(vgg) < 75e6


def test_weight_decay_reaches_every_kernel():
    from train.architectures import input_spec_for
    from train.models import build

    model = build("compact", input_spec_for("compact"), 7, filters=4, weight_decay=1e-3)
    regularized = [layer.kernel_regularizer.l2 for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert len(regularized) == 7 and all(value == pytest.approx(1e-3) for value in regularized)


def test_swa_ships_the_weight_average(tiny_run, tiny_kaggle, tmp_path):
    """With --swa-start, model.keras holds the mean of the averaged epochs' weights, with fresh BN statistics."""
    import keras

    from train.fit import train

    report = train(TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=3, filters=4, batch_size=16, warmup_epochs=0,
                                val_fraction=0.2, init=tiny_run / "model.keras", swa_start=2, swa_lr=0.05))
    state = json.loads((tmp_path / "state.json").read_text())["state"]
    assert state["swa_count"] == 2 and report["epochs_run"] == 3 and report["swa"]["epochs_averaged"] == 2
    model = keras.models.load_model(tmp_path / "model.keras")
    running = keras.models.load_model(tmp_path / "swa_running.keras").get_weights()
    last = keras.models.load_model(tmp_path / "last.keras").get_weights()
    kernels = [i for i, w in enumerate(running) if w.ndim == 4]
    assert all(np.allclose(model.get_weights()[i], running[i]) for i in kernels)
    assert not all(np.allclose(last[i], running[i]) for i in kernels)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert not np.allclose(keras.ops.convert_to_numpy(norm.moving_mean), 0.0)
    assert report["results"][0]["split"] == "validation"


def test_resume_continues_the_weight_average(tiny_kaggle, tmp_path):
    from train.fit import train

    options = TrainOptions(data=tiny_kaggle, out=tmp_path, epochs=2, filters=4, batch_size=16, warmup_epochs=0,
                           val_fraction=0.2, swa_start=1)
    train(options)
    report = train(TrainOptions(**{**options.__dict__, "epochs": 3, "resume": True}))
    assert report["epochs_run"] == 3 and report["swa"]["epochs_averaged"] == 3


def test_an_unknown_architecture_is_refused_with_the_known_ones(tmp_path):
    from train.architectures import input_spec_for
    from train.models import build

    for attempt in (lambda: TrainOptions(data=tmp_path, arch="resnet"), lambda: input_spec_for("resnet"),
                    lambda: build("resnet", input_spec_for("compact"), 7)):
        with pytest.raises(ValueError, match="unknown architecture 'resnet' .choose from compact, vgg, mobilenetv2"):
            attempt()


def test_swa_start_after_the_last_epoch_is_refused(tiny_kaggle, tmp_path, capsys):
    assert train_main([str(tiny_kaggle), "--out", str(tmp_path), "--epochs", "3", "--swa-start", "4"]) == 2
    assert "swa_start must be between" in capsys.readouterr().err


def test_training_runs_with_each_augmentation_and_teacher_option(tiny_run, tiny_kaggle, tmp_path):
    """That training runs with each option and records it. What each option changes in the batches
    training fits is tested below on `training_stream`, the function `train` builds them with (training
    losses vary about 0.002 run to run, as much as some options' effect, so they are not compared)."""
    from train.augment import AugmentOptions
    from train.fit import train

    base = {"data": tiny_kaggle, "epochs": 1, "filters": 4, "batch_size": 16, "warmup_epochs": 0,
            "val_fraction": 0.2}
    report = train(TrainOptions(**base, out=tmp_path / "a", augment=AugmentOptions(erasing=0.5, mixup=0.2)))
    assert report["config"]["erasing"] == 0.5 and report["config"]["mixup"] == 0.2
    report = train(TrainOptions(**base, out=tmp_path / "b", augment=AugmentOptions(cutmix=0.5)))
    assert report["config"]["cutmix"] == 0.5
    report = train(TrainOptions(**base, out=tmp_path / "c", teachers=(tiny_run / "model.keras",),
                                teacher_weight=0.7, teacher_online=True))
    assert report["config"]["teachers"] == [str(tiny_run / "model.keras")] and report["config"]["teacher_online"]


def test_bad_data_leaves_no_output_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "train" / "happy").mkdir(parents=True)
    out = tmp_path / "run"
    assert train_main([str(empty), "--out", str(out), "--epochs", "1"]) == 2
    assert "fer-train: error:" in capsys.readouterr().err and not out.exists()


def test_a_distribution_strategy_on_another_keras_backend_is_refused_not_ignored():
    with pytest.raises(ValueError, match="--strategy mirrored is a tf.distribute strategy: it needs Keras' "
                                         "TensorFlow backend \\(KERAS_BACKEND is torch\\)"):
        build_strategy("mirrored", "torch")
    assert build_strategy("default", "torch") is None


def test_fer_train_keeps_tensorflows_start_up_chatter_off_the_terminal(tiny_kaggle, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    argv = [sys.executable, "-m", "train", str(tiny_kaggle), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--filters", "4", "--batch-size", "16", "--warmup-epochs", "0"]
    quiet = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    chatter = [line for line in (quiet.stdout + quiet.stderr).splitlines()
               if any(word in line for word in ("cuInit", "cuda", "oneDNN", "absl::"))]
    assert chatter == [] and "epoch 1:" in quiet.stderr + quiet.stdout
    assert json.loads((tmp_path / "run" / "report.json").read_text())["model"]["name"] == "compact_w4"  # --filters 4
    loud = subprocess.run([*argv[:5], str(tmp_path / "run2"), *argv[6:], "--verbose"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert loud.returncode == 0 and "oneDNN" in loud.stdout + loud.stderr


def _flat_faces(count: int = 32) -> Splits:
    """Training faces of one grey level each (a different one per face), so what the stream does to them
    shows: a flat face stays flat under the jitter, and noise or a pasted square stands out."""
    levels = np.linspace(30, 220, count).round().astype(np.uint8)
    images = np.broadcast_to(levels[:, None, None, None], (count, 48, 48, 1)).copy()
    faces = FaceSet(images, np.arange(count) % 7, np.array(["Training"] * count))
    return Splits(train=faces, val=faces)


def _first_batches(options: TrainOptions, splits: Splits, batches: int = 2) -> list[tuple[np.ndarray, ...]]:
    data = training_stream(options, splits, options.spec, seed=0)
    if hasattr(data, "num_batches"):  # the online teachers' PyDataset
        return [tuple(np.asarray(part) for part in data[i]) for i in range(batches)]
    return [tuple(np.asarray(part) for part in batch) for batch in data.take(batches)]


def _roughness(pixels: np.ndarray, spec) -> np.ndarray:
    """Mean absolute difference between horizontal neighbours, per face, in 0-255 grey levels."""
    grey = pixels[..., 0] / spec.scale
    return np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))


STREAM = {"epochs": 1, "batch_size": 16}


def test_the_plain_training_stream_keeps_flat_faces_flat_and_targets_one_hot(tiny_kaggle, tmp_path):
    options = TrainOptions(data=tiny_kaggle, out=tmp_path, **STREAM)
    for pixels, targets, _weights in _first_batches(options, _flat_faces()):
        assert np.all(_roughness(pixels, options.spec) < 1.0)
        assert np.all(targets.max(axis=1) == 1.0) and np.allclose(targets.sum(axis=1), 1.0)


def test_random_erasing_puts_noise_into_what_training_sees(tiny_kaggle, tmp_path):
    options = TrainOptions(data=tiny_kaggle, out=tmp_path, **STREAM, augment=AugmentOptions(erasing=1.0))
    for pixels, _targets, _weights in _first_batches(options, _flat_faces()):
        assert np.all(_roughness(pixels, options.spec) > 1.0), "each face erased: 2-25% of it uniform noise"


@pytest.mark.parametrize("augment", [AugmentOptions(mixup=0.4), AugmentOptions(cutmix=1.0)], ids=["mixup", "cutmix"])
def test_mixup_and_cutmix_mix_the_targets_training_sees(tiny_kaggle, tmp_path, augment):
    options = TrainOptions(data=tiny_kaggle, out=tmp_path, **STREAM, augment=augment)
    batches = _first_batches(options, _flat_faces())
    targets = np.concatenate([batch[1] for batch in batches])
    assert np.allclose(targets.sum(axis=1), 1.0)
    assert (targets.max(axis=1) < 0.999).mean() > 0.7, "most faces mixed with another (a few draw themselves)"
    assert targets.max(axis=1).min() >= 0.5 - 1e-6, "each face stays the larger part of its own mix"
    if augment.cutmix:  # a square of another face's grey level inside each mixed face
        for pixels, batch_targets, _weights in batches:
            mixed = batch_targets.max(axis=1) < 0.999
            levels = [len(np.unique(np.round(face / options.spec.scale))) for face in pixels[mixed]]
            assert min(levels) >= 2


@pytest.mark.parametrize("online", [False, True], ids=["once", "online"])
def test_teachers_mix_their_probabilities_into_the_targets_training_sees(tiny_run, tiny_kaggle, tmp_path, online):
    options = TrainOptions(data=tiny_kaggle, out=tmp_path, **STREAM, teachers=(tiny_run / "model.keras",),
                           teacher_weight=0.7, teacher_online=online)
    splits = _flat_faces()
    for _pixels, targets, _weights in _first_batches(options, splits):
        assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(targets.max(axis=1) < 0.999), "no target is the plain one-hot label"
        assert np.all(targets.max(axis=1) >= 0.3 - 1e-6), "the label keeps its 0.3 share"
