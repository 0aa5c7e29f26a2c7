//! The speed limit for `scenarios/bench/mm1.toml`: Lindley's recursion
//!
//!     W(n+1) = max(0, W(n) + S(n) - A(n+1))
//!
//! for an M/M/1 queue (lambda = 0.9/s, exponential service of mean 1 s),
//! drawing A and S from the very streams mqsim uses:
//!
//! - interarrival times from `stream(seed, Arrival, producer 0, 0)`, in order,
//!   `-ln(unit_open0) / rate` (as `Sim::next_arrival`);
//! - the service time of message n from
//!   `stream(seed, AttemptFate, combine(msg_key, queue 0), attempt 0)` with
//!   `msg_key = combine(combine(0x6d73_6773, producer 0), n)`: the 4th draw,
//!   after u_fail, u_out, u_nonret (as `Sim::begin_attempt`);
//!
//! with `seed = replication_seed(S, 0)` (replication 0). Like mqsim, every
//! duration is rounded to whole nanoseconds as soon as it is drawn, and the
//! time in system (W + S) is summed in seconds in completion order (FIFO), so
//! the mean time in system equals mqsim's `latency.mean` exactly when N is
//! mqsim's `messages.published`.
//!
//!     cargo run --release --example lindley -- --messages 10000000 --seed 1
//!
//! prints `{ "messages", "seconds", "messages_per_s", "mean_wait_s",
//! "mean_time_in_system_s" }` (`mean_wait_s` is W, the time in queue).

use mqsim::rng::{combine, replication_seed, stream, unit_open0, Domain};
use mqsim::time::{ns_to_secs, secs_to_ns};
use std::time::Instant;

const RATE_PER_S: f64 = 0.9;
const SERVICE_MEAN_S: f64 = 1.0;

fn main() {
    let mut messages: u64 = 10_000_000;
    let mut seed: u64 = 1;
    let mut rate = RATE_PER_S;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--messages" | "-n" => messages = parse_count(&val("--messages")),
            "--seed" => seed = val("--seed").parse().expect("--seed: an integer"),
            "--rate" => rate = val("--rate").parse().expect("--rate: a number"),
            "-h" | "--help" => {
                println!("lindley --messages N --seed S [--rate 0.9]");
                return;
            }
            other => panic!("unknown argument {other}"),
        }
    }

    let start = Instant::now();
    let rep_seed = replication_seed(seed, 0);
    let mut arrivals = stream(rep_seed, Domain::Arrival, 0, 0);
    let producer_key = combine(0x6d73_6773, 0);

    // W(n) in nanoseconds; the arrival A(n+1) is the gap to the next message.
    let mut w: u64 = 0;
    let mut sum_wait_s = 0.0f64;
    let mut sum_sojourn_s = 0.0f64;
    // The first arrival (A(0), from time 0) only sets the origin.
    let _ = secs_to_ns(-unit_open0(&mut arrivals).ln() / rate);
    for n in 0..messages {
        let key = combine(combine(producer_key, n), 0);
        let mut r = stream(rep_seed, Domain::AttemptFate, key, 0);
        // mqsim draws these three with `unit`; any draw advances the stream
        // by one 64-bit output, which is all that matters here.
        let _u_fail = unit_open0(&mut r);
        let _u_out = unit_open0(&mut r);
        let _u_nonret = unit_open0(&mut r);
        let s = secs_to_ns(-SERVICE_MEAN_S * unit_open0(&mut r).ln());
        sum_wait_s += ns_to_secs(w);
        sum_sojourn_s += ns_to_secs(w + s);
        let a = secs_to_ns(-unit_open0(&mut arrivals).ln() / rate);
        w = (w + s).saturating_sub(a);
    }
    let secs = start.elapsed().as_secs_f64();
    let n = messages.max(1) as f64;
    println!(
        "{{ \"messages\": {messages}, \"seconds\": {secs:.6}, \"messages_per_s\": {:.1}, \"mean_wait_s\": {}, \"mean_time_in_system_s\": {} }}",
        messages as f64 / secs,
        sum_wait_s / n,
        sum_sojourn_s / n
    );
}

/// `10000000`, `10_000_000`, `10M`, `1e7`.
fn parse_count(s: &str) -> u64 {
    let t = s.replace('_', "");
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    (num.parse::<f64>().expect("--messages: a count") * mul) as u64
}
