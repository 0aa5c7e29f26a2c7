//! Two objectives: which candidate confidently dominates which (paired
//! bounds on common random numbers), and the Pareto front.

use super::*;

/// The one-sided 95% bound of the paired difference `a - b` of an
/// objective's cost (lower is better) on the replications both have: the
/// upper bound, or the lower. A key's value is compared as it is.
pub(super) fn paired_bound(o: &Objective, a: &Candidate, b: &Candidate, upper: bool) -> f64 {
    let (ca, cb) = (a.cost(o), b.cost(o));
    let n = ca.len().min(cb.len());
    let differences: Vec<f64> = (0..n).map(|k| ca[k] - cb[k]).collect();
    let (mean, half) = mean_bound(&differences);
    match (&o.target, upper) {
        (Target::Param(_), _) => mean,
        (Target::Metric(_), true) => mean + half,
        (Target::Metric(_), false) => mean - half,
    }
}

/// Whether `a` confidently dominates `b`: better or equal on every
/// objective at the upper bound of their paired difference, strictly
/// better on one.
pub(super) fn dominates(objectives: &[Objective], a: &Candidate, b: &Candidate) -> bool {
    let bounds: Vec<f64> = objectives
        .iter()
        .map(|o| paired_bound(o, a, b, true))
        .collect();
    bounds.iter().all(|&u| u <= 0.0) && bounds.iter().any(|&u| u < 0.0)
}

/// Two objectives: marks as dominated every racing candidate that another
/// racing feasible one confidently dominates (judged on the statuses before
/// this round's marks, so the order of the candidates does not matter).
pub(super) fn mark_dominated_on_front(
    objectives: &[Objective],
    candidates: &mut [Candidate],
    alive: &[usize],
) {
    let dropped: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&i| {
            alive.iter().any(|&j| {
                j != i
                    && candidates[j].status == Status::Feasible
                    && dominates(objectives, &candidates[j], &candidates[i])
            })
        })
        .collect();
    for i in dropped {
        candidates[i].status = Status::Dominated;
    }
}

/// Whether more replications could still drop a racing candidate: some
/// other is not confidently worse than it on any objective (the lower
/// bound of their paired difference is not above 0 on each).
pub(super) fn could_be_dominated(
    objectives: &[Objective],
    candidates: &[Candidate],
    alive: &[usize],
) -> bool {
    alive.iter().any(|&i| {
        alive.iter().any(|&j| {
            j != i
                && objectives
                    .iter()
                    .all(|o| paired_bound(o, &candidates[j], &candidates[i], false) <= 0.0)
        })
    })
}

/// The feasible (or, failing that, undecided) candidates that no other
/// beats on both objectives' means.
pub(super) fn pareto_front(search: &Search, candidates: &[Candidate]) -> Vec<usize> {
    let pool: Vec<usize> = {
        let feasible: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].status == Status::Feasible)
            .collect();
        if feasible.is_empty() {
            (0..candidates.len())
                .filter(|&i| candidates[i].status == Status::Undecided)
                .collect()
        } else {
            feasible
        }
    };
    let costs: Vec<Vec<f64>> = pool
        .iter()
        .map(|&i| {
            search
                .objectives
                .iter()
                .map(|o| mean_bound(&candidates[i].cost(o)).0)
                .collect()
        })
        .collect();
    let dominates = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
    };
    let mut front: Vec<usize> = pool
        .iter()
        .enumerate()
        .filter(|(k, _)| !costs.iter().any(|c| dominates(c, &costs[*k])))
        .map(|(_, &i)| i)
        .collect();
    front.sort_by(|&a, &b| {
        candidates[a]
            .objective(&search.objectives[0])
            .total_cmp(&candidates[b].objective(&search.objectives[0]))
    });
    front
}
