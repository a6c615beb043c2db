"""No config value runs as shell code, and names are safe path components (issue #25 items 1–2).

Two layers: (1) names and ids that reach a command line or a folder name (family names, the
training split, refine's free parameters, SLURM partition and account) are refused by the schema
unless they match a strict pattern, and ``check-config`` and the workflow refuse them in the same
words; (2) every value the rules put into a shell command is quoted: the commands of a dry run of
the whole workflow, with output folders that hold ``$()``, backticks, ``;`` and quotes, are run by
bash for real with the package interpreter replaced by a recorder, which must receive the folders
intact as single arguments while no injected command runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.workflow import REPO, snakemake, tiny_config

from lacbed_bridge.cli import main

PAYLOADS = ["x$(touch PWNED)", "x`touch PWNED`", "x; touch PWNED", "x\ntouch PWNED", "x' && touch PWNED '"]


def _set(config: dict, key: str, value: str) -> None:
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[parts[-1]] = value


@pytest.mark.parametrize("key", ["families.0.name", "train.split", "estimator.split", "refine.free", "cluster.partition",
                                 "cluster.gpu_partition", "cluster.account"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_check_config_refuses_shell_words_in_names(key: str, payload: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tiny_config()
    _set(config, key, payload)
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    shown = key.replace(".0.", "[0].")
    assert shown in err and str(path) in err
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["..", ".", "-rf", "--out", "a/b", "a b", "", "é", "x" * 65])
def test_family_names_are_safe_path_components(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["families"][0]["name"] = name
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    assert "families[0].name" in capsys.readouterr().err


def test_names_differing_only_in_case_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["families"][1]["name"] = config["families"][0]["name"].upper()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "families[1].name" in err and "only in case" in err


@pytest.mark.parametrize("value", ["", ".", "./", "/", "-results", "a\nb"])
@pytest.mark.parametrize("key", ["results", "logs"])
def test_output_folders_must_be_folders_of_their_own(key: str, value: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tiny_config()
    config["output"][key] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    assert f"output.{key}" in capsys.readouterr().err


def test_the_workflow_refuses_what_check_config_refuses(tmp_path: Path) -> None:
    """The workflow's own check is check-config's: a dry run stops on the same line."""
    config = tiny_config()
    config["families"][0]["name"] = "-rf"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "-n", config=path, check=False)
    assert done.returncode != 0
    assert "families[0].name" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


RECORDER = """#!{python}
import json, os, sys
with open(os.environ["RECORD"], "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_every_shell_command_quotes_its_values(tmp_path: Path) -> None:
    """Run every command of a dry run of the whole workflow (refine_test included) through bash,
    with hostile output folders; the recorder stands in for the package's interpreter."""
    work = tmp_path / "work"
    work.mkdir()
    results = "res $(touch PWNED1) `touch PWNED2`; touch PWNED3 \"q' & x"
    logs = "logs $(touch PWNED4); `touch PWNED5`"
    config = tiny_config()
    config["output"] = {"results": results, "logs": logs}
    config["refine"] = {"in_all": True, "free": "delta, thickness"}
    path = work / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    done = snakemake(work, "-n", "-p", "--cores", "2", config=path)
    text = done.stdout + done.stderr
    commands = [line.split("Shell command: ", 1)[1] for line in text.splitlines() 
                if line.startswith("Shell command: ") and line != "Shell command: None"]  # rule all has none
    assert len(commands) >= 30, text[-3000:]
    rules = set(re.findall(r"^rule (\w+):", text, re.M))
    assert {"variants", "simulate", "edd", "dataset", "train", "evaluate", "metrics_summary", "figures",
            "benchmark_surrogate", "refine_test", "train_estimator", "evaluate_estimator"} <= rules
    # the log folders the redirections write into (Snakemake makes them before a job)
    for log in re.findall(r"^    log: (.*)$", text, re.M):
        (work / log).parent.mkdir(parents=True, exist_ok=True)
    interpreter = shlex.split(commands[0])[0]
    assert interpreter == sys.executable or Path(interpreter).resolve() == Path(sys.executable).resolve()
    recorder = tmp_path / "recorder"
    recorder.write_text(RECORDER.format(python=sys.executable))
    recorder.chmod(0o755)
    record = tmp_path / "record.jsonl"
    invocations = 0
    for command in commands:  # a rule may chain two package calls (refine_test: the study, then its figure)
        assert command.startswith(shlex.quote(interpreter) + " "), command
        invocations += command.count(shlex.quote(interpreter) + " ")
        command = command.replace(shlex.quote(interpreter) + " ", shlex.quote(str(recorder)) + " ")
        subprocess.run(["bash", "-c", command], cwd=work, env={**os.environ, "RECORD": str(record)}, check=True)
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == invocations > len(commands)
    assert not list(work.rglob("PWNED*")) and not list(tmp_path.glob("PWNED*"))
    for call in calls:  # each command got the results folder intact, as (part of) one argument
        assert any(arg.startswith(results + "/") or arg == results for arg in call), call
    assert any(call[:3] == ["-m", "lacbed_bridge", "refine-test"] and "delta, thickness" in call for call in calls)
    assert any(call[:3] == ["-m", "lacbed_bridge", "refine-figure"] for call in calls)
    assert any(call[0].endswith("surrogate.py") for call in calls)
    assert REPO.joinpath("benchmarks", "surrogate.py").is_file()


@pytest.mark.slow  # over 2 s: the quick loop (make quick) leaves it to make test
def test_the_rules_run_without_the_venv_on_path(tmp_path: Path) -> None:
    """`.venv/bin/snakemake` called by its path, with the venv's bin not on PATH: the jobs still
    find the package (issue #25 item 11: they failed with "lacbed-bridge: command not found")."""
    from support.workflow import BIN

    config = tiny_config()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(path), "--cores", "1", "results/variants/Fm-3m_rocksalt/variants.csv"]
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "results" / "variants" / "Fm-3m_rocksalt" / "variants.csv").is_file()
