"""The Python package gives what the command line gives: the same JSON for
the same scenario and seed, the same error text, and a sweep frame with one
row per cell and variant. Needs the `mqsim` binary (MQSIM_BINARY, default
target/release/mqsim) for the comparison with the command line."""

import json
import os
import pathlib
import traceback
import signal
import subprocess
import threading
import time

import pytest

import mqsim

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("MQSIM_BINARY", str(ROOT / "target" / "release" / "mqsim"))
MM1 = str(ROOT / "scenarios" / "mm1.toml")
STORM = str(ROOT / "scenarios" / "retry-storm.toml")


def cli(*args):
    """Runs the command line; returns (exit code, stdout, stderr)."""
    done = subprocess.run([BINARY, *args], capture_output=True, text=True, cwd=ROOT)
    return done.returncode, done.stdout, done.stderr


def cli_json(*args):
    code, out, err = cli(*args, "--format", "json", "--no-files", "-q")
    assert code == 0, err
    return json.loads(out)


def test_run_equals_the_command_line():
    expected = cli_json("run", MM1, "-r", "3", "--seed", "5", "--set", "simulation.duration=2h")
    got = mqsim.run(MM1, replications=3, seed=5, set={"simulation.duration": "2h"})
    assert got == expected
    assert got["messages"]["published"] > 0
    # Any number of threads gives the same result.
    assert mqsim.run(MM1, replications=3, seed=5, jobs=1, set=["simulation.duration=2h"]) == expected


def test_run_takes_toml_text_and_paths():
    text = pathlib.Path(MM1).read_text()
    by_text = mqsim.run(text, seed=2, set={"simulation.duration": "1h"})
    by_path = mqsim.run(pathlib.Path(MM1), seed=2, set={"simulation.duration": "1h"})
    # A scenario without `simulation.name` is named after its file's stem;
    # text has none, so it is "scenario". Everything else is the same.
    assert (by_path["scenario"], by_text.pop("scenario")) == ("mm1", "scenario")
    by_path.pop("scenario")
    assert by_text == by_path


def test_compare_equals_the_command_line():
    args = ["-r", "2", "--set", "simulation.duration=15m", "--set", "simulation.drain=1m"]
    expected = cli_json("compare", STORM, *args)
    got = mqsim.compare(STORM, replications=2, set={"simulation.duration": "15m", "simulation.drain": "1m"})
    assert got == expected
    assert set(got["variants"]) >= {"immediate", "jitter-budget"}
    assert "comparison" in got


def test_sweep_frame_has_a_row_per_cell_and_variant():
    frame = mqsim.sweep(MM1, params={"producer.arrival.rate": [0.5, 0.7, 0.9]}, replications=2,
                        set={"simulation.duration": "1h"})
    rows = frame.to_dict("records") if hasattr(frame, "to_dict") else frame
    assert len(rows) == 3
    assert [r["producer.arrival.rate"] for r in rows] == [0.5, 0.7, 0.9]
    assert {"variant", "latency.mean", "latency.mean_ci95", "messages.lost"} <= set(rows[0])
    # Latency grows with the load, as M/M/1 says.
    means = [r["latency.mean"] for r in rows]
    assert means == sorted(means)
    document = cli_json("sweep", MM1, "--param", "producer.arrival.rate", "--values", "0.5,0.7,0.9",
                        "-r", "2", "--set", "simulation.duration=1h")
    assert [r["summary"]["latency"]["mean"] for r in document["results"]] == means
    as_list = mqsim.sweep(MM1, params={"producer.arrival.rate": [0.5]}, set={"simulation.duration": "1h"},
                          frame=False)
    assert isinstance(as_list, list) and as_list[0]["variant"] == "base"


def test_bad_input_raises_scenario_error_with_the_command_lines_text(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(pathlib.Path(MM1).read_text().replace('mean = "1s"', 'mean = "1s", failure = 1.5'))
    with pytest.raises(mqsim.ScenarioError) as caught:
        mqsim.run(str(bad))
    error = caught.value
    code, _, stderr = cli("run", str(bad), "--no-files")
    assert code == 2
    assert stderr.strip() == "error: " + str(error)
    assert error.file == str(bad)
    assert isinstance(error.line, int) and isinstance(error.column, int)
    assert error.key is not None and error.message
    assert isinstance(error, ValueError)
    assert mqsim.ScenarioError.__module__ == "mqsim"
    shown = traceback.format_exception_only(type(error), error)[-1]
    assert shown.startswith("mqsim.ScenarioError: " + str(error)), shown
    with pytest.raises(mqsim.ScenarioError) as caught:
        mqsim.run(MM1, set={"consumer.failure": 2})
    assert "probability" in caught.value.message and caught.value.line is None
    with pytest.raises(mqsim.ScenarioError):
        mqsim.run("[simulation]\nduration = \"x\"\n")
    # One line of TOML is text too (it is no file's name).
    with pytest.raises(mqsim.ScenarioError) as caught:
        mqsim.run('preset = "kafka"')
    assert "cannot read" not in caught.value.message
    with pytest.raises(ValueError):
        mqsim.run(MM1, build="fastest")


def test_data_files_outside_the_scenarios_folder_need_allow_outside(tmp_path):
    (tmp_path / "arrivals.csv").write_text("ts\n0.0\n0.25\n0.5\n2.0\n")
    team = tmp_path / "team"
    team.mkdir()
    scenario = team / "replay.toml"
    scenario.write_text(
        '[simulation]\nduration = "1m"\n[[producer]]\n'
        'arrival = { process = "trace", file = "../arrivals.csv", column = "ts" }\n'
        '[[queue]]\nname = "q"\n[[consumer]]\nservice = { dist = "constant", mean = "10ms" }\n'
    )
    with pytest.raises(mqsim.ScenarioError) as caught:
        mqsim.run(str(scenario))
    assert caught.value.key == "producer[0].arrival.file"
    assert "outside the scenario's folder" in caught.value.message
    code, _, stderr = cli("run", str(scenario), "--no-files")
    assert code == 2 and stderr.strip() == "error: " + str(caught.value)
    got = mqsim.run(str(scenario), allow_outside=True)
    assert got["messages"]["published"] == 4
    assert got == cli_json("run", str(scenario), "--allow-outside")


def test_explain_and_schema():
    text = mqsim.explain(MM1)
    _, expected, _ = cli("explain", MM1)
    assert text == expected
    assert mqsim.schema()["type"] == "object"


def test_ctrl_c_stops_a_long_run():
    """SIGINT during a long run raises KeyboardInterrupt within moments.

    Python's own SIGINT handler is put in place first: a process started
    in the background by a non-interactive shell inherits SIGINT ignored,
    and Python then leaves it ignored (a CI run started that way ran the
    whole three minutes and raised nothing)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        started = time.monotonic()
        timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            mqsim.run(MM1, replications=4, jobs=1, set={"simulation.duration": "100000h"})
        assert time.monotonic() - started < 20
    finally:
        signal.signal(signal.SIGINT, previous)
    # The next call runs normally (the stop was reset).
    assert mqsim.run(MM1, set={"simulation.duration": "1h"})["partial"] is False
