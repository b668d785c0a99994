"""Every command's --help: each option's default said once, nothing meaningless, descriptions as written."""

import os
import re
import subprocess
import sys
import zipfile

import pytest

from convert import cli as convert_cli
from edge import cli as edge_cli
from tests.conftest import ROOT, heavy_modules_after
from train import cli as train_cli
from train import ensembles

COMMANDS = {
    "fer-edge": (edge_cli.main, []),
    "fer-edge bench": (edge_cli.main, ["bench"]),
    "fer-edge info": (edge_cli.main, ["info"]),
    "fer-train": (train_cli.main, []),
    "fer-convert": (convert_cli.main, []),
    "fer-eval": (train_cli.eval_main, []),
    "fer-average": (train_cli.average_main, []),
    "python -m train.ensembles": (ensembles.main, []),
}


def _help(command: str, capsys) -> str:
    main, argv = COMMANDS[command]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def _option_entries(text: str) -> list[str]:
    """Each option's or argument's help, joined across its wrapped lines."""
    listing = text.split("\n\n", 2)[-1]
    entries: list[str] = []
    for line in listing.splitlines():
        if re.match(r"^  \S", line):
            entries.append(line.strip())
        elif entries and line.startswith("    "):
            entries[-1] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command", COMMANDS)
def test_help_says_each_default_once_and_only_when_there_is_one(command, capsys):
    text = _help(command, capsys)
    assert not re.search(r"\(default: (None|False|\[\])\)", text), text
    entries = _option_entries(text)
    assert any(entry.startswith("-h, --help") for entry in entries)
    for entry in entries:
        assert entry.count("default:") <= 1, entry


def test_run_help_shows_real_defaults_and_keeps_the_command_list(capsys):
    text = _help("fer-edge", capsys)
    entries = {entry.split()[0]: entry for entry in _option_entries(text)}
    assert entries["--threads"].endswith("(default: 1)")
    assert entries["--max-frames"].endswith("(default: 0)")
    assert "default" not in entries["--flip"]
    assert re.search(r"^  fer-edge info MODEL +print", text, re.MULTILINE)


@pytest.mark.parametrize("module, main", [("train.cli", "main"), ("train.cli", "eval_main"),
                                          ("train.cli", "average_main"), ("train.ensembles", "main"),
                                          ("convert.cli", "main")])
def test_help_answers_without_loading_keras_or_tensorflow(module, main):
    # A fresh interpreter: this test process has Keras loaded already. `--help` must not pay TensorFlow's
    # start-up (seconds, and its C++ log lines before the help) for text it does not need.
    code = f"from {module} import {main} as main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert heavy_modules_after(code) == []


@pytest.mark.parametrize("tool, module, main, argv", [
    ("fer-train", "train.cli", "main", ["{data}", "--out", "{tmp}/run", "--epochs", "1"]),
    ("fer-convert", "convert.cli", "main", ["{tmp}/model.keras", "--data", "{data}", "--out-dir", "{tmp}/out"]),
    ("fer-average", "train.cli", "average_main",
     ["{tmp}/a.keras", "{tmp}/b.keras", "--data", "{data}", "--out", "{tmp}/avg"]),
    ("fer-eval", "train.cli", "eval_main", ["{tmp}/model.keras", "{data}"]),
])
def test_without_the_train_extra_each_training_tool_says_so_in_one_line(tool, module, main, argv, tmp_path,
                                                                        tiny_kaggle):
    """A device-only install: keras and tensorflow cannot be imported (sys.modules entries of None)."""
    for name in ("model.keras", "a.keras", "b.keras"):  # zip archives, as .keras files are
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("config.json", "{}")
    args = [a.format(data=tiny_kaggle, tmp=tmp_path) for a in argv]
    code = ("import sys\nsys.modules['keras'] = sys.modules['tensorflow'] = None\n"
            f"from {module} import {main} as main\nsys.exit(main({args!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{tool}: error: ") and 'needs the train extra (pip install "fer-edge[train]")' \
        in lines[-1] and "Traceback" not in result.stderr


def test_a_keras_backend_that_is_not_installed_is_one_line(tiny_kaggle, tmp_path):
    import importlib.util

    backend = next((name for name in ("jax", "torch") if importlib.util.find_spec(name) is None), None)
    if backend is None:
        pytest.skip("both jax and torch are installed: no missing backend to name")
    result = subprocess.run([sys.executable, "-m", "train", str(tiny_kaggle), "--out", str(tmp_path / "run")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"fer-train: error: KERAS_BACKEND is {backend} but {backend} is not installed: pip install {backend} "
        f"(or unset KERAS_BACKEND to train on TensorFlow)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("main, argv, prog", [
    (edge_cli.main, ["--version"], "fer-edge"),
    (edge_cli.main, ["bench", "--version"], "fer-edge bench"),
    (edge_cli.main, ["info", "--version"], "fer-edge info"),
    (train_cli.main, ["--version"], "fer-train"),
    (convert_cli.main, ["--version"], "fer-convert"),
    (train_cli.eval_main, ["--version"], "fer-eval"),
    (train_cli.average_main, ["--version"], "fer-average"),
])
def test_every_command_tells_its_version(main, argv, prog, capsys):
    from edge import __version__

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"{prog} (fer-edge) {__version__}"


def test_os_errors_name_the_path_and_reason_without_errno(tiny_kaggle, capsys):
    assert train_cli.main([str(tiny_kaggle), "--out", "/dev/null/run", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "fer-train: error: /dev/null/run: Not a directory"
    assert edge_cli.main(["bench", "--models", "models/fer_compact_int8.tflite", "--threads", "1", "--runs", "1",
                          "--json", "/dev/null/figures.json"]) == 2
    err = capsys.readouterr().err
    assert "fer-edge: error: cannot write to /dev/null/figures.json: Not a directory" in err and "[Errno" not in err


@pytest.mark.parametrize("main, argv", [(edge_cli.main, ["--help"]), (train_cli.main, ["--help"]),
                                        (convert_cli.main, ["--help"]), (train_cli.eval_main, ["--help"]),
                                        (train_cli.average_main, ["--help"])])
def test_help_has_no_markdown_backticks(main, argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "`" not in capsys.readouterr().out


def test_output_folders_are_out_everywhere(capsys):
    for main in (train_cli.main, convert_cli.main, train_cli.average_main):
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "--out " in capsys.readouterr().out
