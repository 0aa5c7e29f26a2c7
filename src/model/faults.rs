//! Faults as the simulator runs them: their kinds and timings, compiled
//! from `[[fault]]`.

use super::*;

/// When a fault strikes: a fixed window, or random (exponential up times).
#[derive(Clone, Debug)]
pub enum FaultTiming {
    Window {
        start_ns: Nanos,
        length_ns: Nanos,
    },
    Random {
        mtbf_ns: Nanos,
        mttr: Dist,
    },
    /// Every `every_ns` from `first_ns`, each occurrence late by a uniform
    /// draw in [0, `jitter_ns`), lasting `length_ns` (or a draw from `mttr`).
    Periodic {
        first_ns: Nanos,
        every_ns: Nanos,
        jitter_ns: Nanos,
        length_ns: Nanos,
        mttr: Option<Dist>,
    },
}

#[derive(Clone, Debug)]
pub struct FaultModel {
    pub kind: FaultKind,
    pub timing: FaultTiming,
    /// Consumer group or producer index it hits; None = all.
    pub target: Option<usize>,
    pub instance: Option<u32>,
    pub failure: f64,
    pub slowdown: f64,
    /// Load spike: arrival rates are multiplied by this while it lasts.
    pub factor: f64,
    pub label: String,
    /// Broker crash of the process only (SIGKILL): what was written but
    /// not yet fsynced survives in the page cache. False: a machine crash
    /// (power, kernel) that loses the fsync window.
    pub process_only: bool,
    /// Rolling restart: the time between one unit going down and the next.
    pub interval_ns: Nanos,
    /// Rolling restart: stop taking work and finish what is held (true),
    /// or crash (false).
    pub graceful: bool,
}

impl FaultModel {
    /// Whether it hits producers (`target = "producer:NAME"`) rather than
    /// consumer instances: what a rolling restart restarts.
    pub fn targets_producers(&self) -> bool {
        self.label.starts_with("producer:")
    }
}

/// The `[[fault]]` entries of resolved scenario `r`, compiled.
pub(super) fn compile_faults(r: &Scenario) -> Result<Vec<FaultModel>, String> {
    let dist = |d: &DistCfg| Dist::compile(d).map_err(|(k, m)| format!("{k}: {m}"));
    let mut faults = Vec::new();
    for f in &r.faults {
        let kind = f.kind;
        let length = f.downtime.or(f.duration);
        let timing = match (f.at.or(f.start), length, f.mtbf, &f.mttr) {
            _ if f.every.is_some() => {
                let every_ns = f.every.map_or(1, |d| d.ns().max(1));
                FaultTiming::Periodic {
                    first_ns: f.at.or(f.start).map_or(every_ns, |d| d.ns()),
                    every_ns,
                    jitter_ns: ns(f.jitter).unwrap_or(0),
                    length_ns: ns(length).unwrap_or(0),
                    mttr: match (length, &f.mttr) {
                        (None, Some(d)) => Some(dist(d)?),
                        _ => None,
                    },
                }
            }
            (Some(at), Some(len), _, _) => FaultTiming::Window {
                start_ns: at.ns(),
                length_ns: len.ns(),
            },
            (_, _, Some(mtbf), Some(mttr)) => FaultTiming::Random {
                mtbf_ns: mtbf.ns().max(1),
                mttr: dist(mttr)?,
            },
            _ => return Err(format!("fault {} has no timing", f.kind)),
        };
        let target_name = f.target.clone().or_else(|| {
            f.between
                .as_ref()
                .and_then(|b| b.iter().find(|x| *x != "broker").cloned())
        });
        let target = match target_name.as_deref().and_then(|t| t.split_once(':')) {
            Some(("consumer", n)) => (0..r.consumers.len()).position(|i| consumer_name(r, i) == n),
            Some(("producer", n)) => (0..r.producers.len()).position(|i| producer_name(r, i) == n),
            _ => None,
        };
        faults.push(FaultModel {
            kind,
            timing,
            target,
            instance: f.instance,
            failure: f.failure.unwrap_or(1.0),
            slowdown: f.slowdown.unwrap_or(1.0),
            process_only: f.scope == Some(CrashScope::Process),
            factor: f.factor.unwrap_or(1.0),
            // Only a rolling restart spaces its units (by default, the
            // next goes down as the previous comes back).
            interval_ns: if kind == FaultKind::RollingRestart {
                ns(f.interval.or(f.downtime)).unwrap_or(0)
            } else {
                0
            },
            graceful: f.graceful.unwrap_or(true),
            label: target_name.unwrap_or_else(|| {
                if kind == FaultKind::BrokerCrash {
                    "broker"
                } else {
                    "all"
                }
                .into()
            }),
        });
    }
    Ok(faults)
}
