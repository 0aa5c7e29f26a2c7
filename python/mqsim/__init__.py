"""mqsim: a deterministic discrete-event simulator of message-queue reliability.

The same simulator as the ``mqsim`` command line, called in process:

    import mqsim
    result = mqsim.run("scenarios/quickstart.toml", replications=5)
    result["latency"]["p99"]

Every function takes a scenario as a path (``str`` or ``os.PathLike``) or as
TOML text (a ``str`` that names no file and holds a newline, a
``key = value`` or a ``[table]``), and the command line's options:
``set`` (``{"consumer.failure": 0.1}`` or ``["consumer.failure=0.1"]``,
like ``--set``), ``replications`` (``-r``), ``seed`` (``--seed``), ``jobs``
(``-j``, 0 = all cores; results do not depend on it) and ``build``
(``--build``: "auto" or "full"). Results are the trees ``--format json``
prints, equal to the command line's for the same scenario and seed.

The runs release the GIL. Ctrl-C (KeyboardInterrupt) stops them within
moments; the partial results are dropped and KeyboardInterrupt is raised.

A scenario that does not load raises :class:`ScenarioError`, with ``file``,
``line``, ``column``, ``key`` (None when unknown) and ``message``; its text
is the command line's ``error:`` line. Other bad input raises ValueError.
"""

import json as _json
import os as _os

from . import _native

ScenarioError = _native.ScenarioError
__version__ = _native.version()

__all__ = ["run", "compare", "sweep", "explain", "schema", "ScenarioError"]


def _scenario(scenario):
    """("file", path) or ("text", toml) for a scenario argument."""
    if isinstance(scenario, _os.PathLike):
        return "file", _os.fspath(scenario)
    if not isinstance(scenario, str):
        raise TypeError("scenario: give a path or TOML text, not %s" % type(scenario).__name__)
    if _os.path.exists(scenario) or not _looks_like_toml(scenario):
        return "file", scenario
    return "text", scenario


def _looks_like_toml(text):
    """True for TOML text rather than a file name: it holds a newline, a
    key = value pair or a [table] header (a missing file's name holds none of
    them, and is reported as a file that cannot be read)."""
    stripped = text.strip()
    return "\n" in text or "=" in text or stripped.startswith("[")


def _value(value):
    """A Python value as ``--set`` reads it (TOML; anything else a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json.dumps(v) if isinstance(v, str) else _value(v) for v in value) + "]"
    return str(value)


def _sets(set):
    if set is None:
        return []
    if isinstance(set, dict):
        return ["%s=%s" % (key, _value(value)) for key, value in set.items()]
    if isinstance(set, str):
        return [set]
    return [str(s) for s in set]


def _options(scenario, set, replications, seed, jobs, build, allow_outside):
    kind, text = _scenario(scenario)
    return [kind, text, _sets(set), replications, seed, int(jobs), build, bool(allow_outside)]


def run(scenario, *, set=None, replications=1, seed=None, jobs=0, build="auto", allow_outside=False):
    """Simulate a scenario: the summary ``mqsim run --format json`` prints.

    ``replications=None`` takes the scenario's ``simulation.replications``.
    ``allow_outside=True`` lets the scenario read data files (``file = ...``)
    outside its folder (for text, the working directory), as
    ``--allow-outside`` does.
    """
    return _json.loads(_native.run(*_options(scenario, set, replications, seed, jobs, build, allow_outside)))


def compare(scenario, *, set=None, replications=1, seed=None, jobs=0, build="auto", variants=None,
            allow_outside=False):
    """Run every ``[[variant]]`` (and ``variants``, ``["NAME:key=value,..."]``
    like ``--variant``) on common random numbers: the tree ``mqsim compare
    --format json`` prints (``variants``, ``comparison``)."""
    text = _native.compare(*_options(scenario, set, replications, seed, jobs, build, allow_outside), list(variants or []))
    return _json.loads(text)


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _at(tree, path):
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def sweep(scenario, *, params, set=None, replications=1, seed=None, jobs=0, build="auto",
          metrics=None, only=None, frame=True, allow_outside=False):
    """Run the grid of ``params`` (``{key: [values]}``, the first key
    outermost; values as ``--values`` takes them) x variants x replications.

    Returns a pandas.DataFrame (a list of dicts when pandas is not
    installed, or with ``frame=False``): one row per cell and variant, a
    column per swept key (numbers as floats), ``variant``, and per metric
    its mean and ``<metric>_ci95`` (the 95% half-width). ``metrics``: summary
    paths (default: as ``mqsim sweep``); ``only``: variants to run.
    """
    if not isinstance(params, dict) or not params:
        raise ValueError("params: give {key: [values]}, e.g. {'producer.arrival.rate': [10, 20]}")
    grid = [(key, [_value(v) for v in (values if isinstance(values, (list, tuple)) else [values])])
            for key, values in params.items()]
    document = _json.loads(_native.sweep(*_options(scenario, set, replications, seed, jobs, build, allow_outside),
                                         grid, list(metrics or []), list(only or [])))
    rows = []
    for result in document["results"]:
        row = {key: _number(value) for key, value in result["values"].items()}
        row["variant"] = result["variant"]
        for metric in document["metrics"]:
            row[metric] = _at(result["summary"], metric)
            row[metric + "_ci95"] = _at(result["summary"].get("ci95", {}), metric)
        rows.append(row)
    if not frame:
        return rows
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)


def explain(scenario, *, set=None, allow_outside=False):
    """The scenario with every default and preset filled in (``mqsim explain``)."""
    kind, text = _scenario(scenario)
    return _native.explain(kind, text, _sets(set), bool(allow_outside))


def schema():
    """The JSON Schema of the scenario format (``mqsim schema``)."""
    return _json.loads(_native.schema())
