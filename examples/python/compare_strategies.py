"""Compare two retry strategies under a brown-out and plot their latency CDFs.

    python examples/python/compare_strategies.py [OUTPUT_FOLDER]

Runs scenarios/retry-storm.toml (a 30 s brown-out at rho = 0.75) through
mqsim.compare: every variant on common random numbers, 3 replications.
Prints the two strategies' figures with their 95% half-widths, and writes
latency-cdf.png (the CDF through each variant's latency quantiles p50 to
max, each the mean over the replications) into OUTPUT_FOLDER (default: a new temporary folder).
"""

import pathlib
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")  # no display: write a file
import matplotlib.pyplot as plt

import mqsim

ROOT = pathlib.Path(__file__).resolve().parents[2]
STRATEGIES = ["immediate", "jitter-budget"]
QUANTILES = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)]


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp(prefix="mqsim-"))
    out.mkdir(parents=True, exist_ok=True)
    result = mqsim.compare(ROOT / "scenarios" / "retry-storm.toml", replications=3, seed=11)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    print("%-14s %22s %22s %22s" % ("strategy", "latency p50 (s)", "latency p99 (s)", "duplicates"))
    for name in STRATEGIES:
        summary = result["variants"][name]
        latency, half = summary["latency"], summary["ci95"]["latency"]
        duplicates = summary["messages"]["duplicates"]
        print("%-14s %12.4f ± %-7.4f %12.4f ± %-7.4f %22.0f" % (
            name, latency["p50"], half["p50"], latency["p99"], half["p99"], duplicates))
        times = [latency[key] for key, _ in QUANTILES]
        fractions = [fraction for _, fraction in QUANTILES]
        axes.plot(times, fractions, marker="o", label=name)
    axes.set_xscale("log")
    axes.set_xlabel("latency, publish to first successful processing (s)")
    axes.set_ylabel("fraction of messages")
    axes.set_title("retry-storm: latency CDF by retry strategy (3 replications)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    path = out / "latency-cdf.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print("wrote", path)


if __name__ == "__main__":
    main()
