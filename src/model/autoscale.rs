//! Autoscaling consumers as the simulator runs them, compiled from
//! `consumer.autoscale`.

use crate::scenario::{AutoscaleCfg, ScaleMetric};
use crate::time::Nanos;

/// A group's autoscaler: every `poll_ns` it wants ceil(metric / target)
/// instances within `min..=max`, changes at most `step` per poll, scales
/// in only `cooldown_ns` after its last change; a started instance serves
/// after `startup_ns`; a removed one drains (`drain`) or crashes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoscaleModel {
    pub min: u32,
    pub max: u32,
    pub metric: ScaleMetric,
    pub target: f64,
    pub poll_ns: Nanos,
    pub cooldown_ns: Nanos,
    pub startup_ns: Nanos,
    pub step: u32,
    pub drain: bool,
}

/// The defaults the README gives: KEDA's 30 s polling interval and 5 min
/// cooldown, instant start-up, no limit per poll, graceful scale-in.
pub(super) fn compile_autoscale(a: &AutoscaleCfg) -> AutoscaleModel {
    AutoscaleModel {
        min: a.min.unwrap_or(1),
        max: a.max,
        metric: a.metric,
        target: a.target,
        poll_ns: a.poll.map_or(30_000_000_000, |d| d.ns().max(1)),
        cooldown_ns: a.cooldown.map_or(300_000_000_000, |d| d.ns()),
        startup_ns: a.startup.map_or(0, |d| d.ns()),
        step: a.step.unwrap_or(u32::MAX),
        drain: a.drain.unwrap_or(true),
    }
}

impl AutoscaleModel {
    /// The instances wanted for a metric reading of `value` with `current`
    /// instances serving: ceil(value / target) (utilisation: ceil(current
    /// * value / target), as the HPA computes), within `min..=max`.
    pub fn desired(&self, value: f64, current: u32) -> u32 {
        let wanted = match self.metric {
            ScaleMetric::Utilisation => current as f64 * value / self.target,
            ScaleMetric::Backlog | ScaleMetric::Lag | ScaleMetric::InFlight => value / self.target,
        };
        // A tiny excess from rounding (3.0000000001) must not add an instance.
        let ceil = (wanted - 1e-9).ceil().max(0.0);
        (ceil.min(self.max as f64) as u32).clamp(self.min, self.max)
    }
}
