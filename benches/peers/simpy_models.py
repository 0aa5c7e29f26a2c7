#!/usr/bin/env python3
"""The mqsim benchmark models, written idiomatically in SimPy: the peer that
benches/run.py compares mqsim with.

Setup:
    pip install simpy==4.1.1

Usage:
    python3 benches/peers/simpy_models.py mm1   --messages 200000 --seed 1
    python3 benches/peers/simpy_models.py retry --messages 200000 --seed 1

Models (the same as scenarios/bench/mm1.toml and retry.toml):
  mm1    Poisson arrivals at 0.9/s, one consumer, exponential service mean 1 s.
  retry  Poisson arrivals at 3/s, 4 consumers, exponential service mean 1 s;
         an attempt fails with probability 0.1 and is retried after an
         exponential backoff with full jitter, U(0, min(30 s, 0.1 s * 2^n))
         (n = 0 for the first retry), the message going back to the tail of
         the queue; it is dead-lettered after 5 deliveries.

One process per message, the consumers a `simpy.Resource` (FIFO queue).
Exactly N messages are generated; the run continues until all are done.
Prints one JSON object: model, messages, seconds (wall, simulation only),
messages_per_s, mean_latency_s (publish to ack, acked messages only),
acked, dead_lettered.
The random numbers come from Python's `random` and differ from mqsim's, so
the mean latency agrees with mqsim's only statistically.
"""

import argparse
import json
import random
import sys
import time

try:
    import simpy
except ImportError:  # pragma: no cover
    sys.exit("simpy is missing: pip install simpy==4.1.1")


class Stats:
    def __init__(self):
        self.acked = 0
        self.dead_lettered = 0
        self.latency_sum = 0.0


def mm1(env, n, rng, stats, rate=0.9, service_mean=1.0):
    server = simpy.Resource(env, capacity=1)

    def message(env):
        t0 = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0 / service_mean))
        stats.acked += 1
        stats.latency_sum += env.now - t0

    def source(env):
        for _ in range(n):
            yield env.timeout(rng.expovariate(rate))
            env.process(message(env))

    env.process(source(env))


def retry(env, n, rng, stats, rate=3.0, consumers=4, service_mean=1.0,
          failure=0.1, base=0.1, multiplier=2.0, cap=30.0, max_deliveries=5):
    pool = simpy.Resource(env, capacity=consumers)

    def message(env):
        t0 = env.now
        deliveries = 0
        while True:
            deliveries += 1
            with pool.request() as req:
                yield req
                yield env.timeout(rng.expovariate(1.0 / service_mean))
                failed = rng.random() < failure
            if not failed:
                stats.acked += 1
                stats.latency_sum += env.now - t0
                return
            if deliveries >= max_deliveries:
                stats.dead_lettered += 1
                return
            # Retry n (n = 0 first): full jitter over the capped exponential.
            d = min(cap, base * multiplier ** (deliveries - 1))
            yield env.timeout(rng.uniform(0.0, d))

    def source(env):
        for _ in range(n):
            yield env.timeout(rng.expovariate(rate))
            env.process(message(env))

    env.process(source(env))


MODELS = {"mm1": mm1, "retry": retry}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    stats = Stats()
    env = simpy.Environment()
    MODELS[a.model](env, a.messages, rng, stats)
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    print(json.dumps({
        "model": a.model,
        "simpy": simpy.__version__,
        "messages": a.messages,
        "seconds": round(wall, 6),
        "messages_per_s": round(a.messages / wall, 1),
        "mean_latency_s": stats.latency_sum / max(stats.acked, 1),
        "acked": stats.acked,
        "dead_lettered": stats.dead_lettered,
    }))


if __name__ == "__main__":
    main()
