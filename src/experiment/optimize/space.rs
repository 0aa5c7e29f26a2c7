//! Where a stage's candidates lie in the searched space: the first
//! stage's grid or Halton points, the zoom of a one-objective search
//! around its winner, and the later stages of a two-objective search in
//! the gaps of the front.

use super::*;

/// The `i`-th point of the Halton sequence in `dims` dimensions (bases the
/// first primes; the crate's index is 1-based), in the unit cube: spread
/// evenly, deterministic.
pub(super) fn halton_point(i: usize, dims: usize) -> Vec<f64> {
    const PRIMES: [u8; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    (0..dims)
        .map(|d| halton::number(PRIMES[d % PRIMES.len()], i + 1))
        .collect()
}

/// A value with up to 6 significant digits, without trailing zeros.
pub(super) fn short(x: f64) -> String {
    let t = format!("{:.6e}", x);
    let v: f64 = t.parse().unwrap_or(x);
    let mut s = format!("{v}");
    if s.contains('e') {
        s = format!("{v:.9}");
        while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
            s.pop();
        }
    }
    s
}

/// A candidate's setting as laid out: (settings, position).
pub(super) type Point = (Vec<String>, Vec<f64>);

/// A region of the space: per parameter, the sub-range still searched
/// (continuous and integer keys narrow from stage to stage).
#[derive(Clone, Debug)]
pub(super) struct Region {
    pub(super) bounds: Vec<(f64, f64)>,
}

impl Region {
    pub(super) fn whole(params: &[Param]) -> Region {
        Region {
            bounds: params
                .iter()
                .map(|p| match &p.space {
                    Space::Continuous { low, high, .. } => (*low, *high),
                    Space::Integer { low, high } => (*low as f64, *high as f64),
                    Space::Choice(c) => (0.0, (c.len() - 1) as f64),
                })
                .collect(),
        }
    }

    /// The candidate at unit-cube point `u` (snapped to whole numbers and
    /// choices), as (settings, position).
    pub(super) fn point(&self, params: &[Param], u: &[f64]) -> (Vec<String>, Vec<f64>) {
        let mut settings = Vec::new();
        let mut position = Vec::new();
        for ((p, (lo, hi)), f) in params.iter().zip(&self.bounds).zip(u) {
            match &p.space {
                Space::Continuous { log, unit, .. } => {
                    let x = if *log {
                        lo * (hi / lo).powf(*f)
                    } else {
                        lo + (hi - lo) * f
                    };
                    let text = short(x);
                    position.push(text.parse().unwrap_or(x));
                    settings.push(format!("{text}{unit}"));
                }
                Space::Integer { .. } => {
                    let x = (lo + (hi - lo) * f).round();
                    position.push(x);
                    settings.push(format!("{x}"));
                }
                Space::Choice(values) => {
                    let i = (lo + (hi - lo) * f).round() as usize;
                    position.push(i as f64);
                    settings.push(values[i.min(values.len() - 1)].clone());
                }
            }
        }
        (settings, position)
    }

    /// The levels of a full grid over the region of at most `n` points, key
    /// by key: every choice, every whole number of a range no wider than
    /// the others' levels, and for the other keys the most even levels (at
    /// least 3, ends included) that keep the grid within `n`. None when no
    /// such grid fits: the stage then takes Halton points.
    pub(super) fn grid_levels(&self, params: &[Param], n: usize) -> Option<Vec<usize>> {
        (3..=n.max(3)).rev().find_map(|l| {
            let levels: Vec<usize> = params
                .iter()
                .zip(&self.bounds)
                .map(|(p, (lo, hi))| match &p.space {
                    Space::Choice(c) => c.len(),
                    Space::Integer { .. } => ((hi - lo).round() as usize + 1).min(l),
                    Space::Continuous { .. } => l,
                })
                .collect();
            let size = levels.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
            size.is_some_and(|size| size <= n).then_some(levels)
        })
    }

    /// Points of a stage, with the levels per key its zoom narrows by: an
    /// even grid of `n` in one dimension (ends included); in several, the
    /// full grid when one of at most `n` points has at least 3 levels per
    /// range (every choice and short whole-number range whole), else the
    /// corners' centre and Halton points up to `n` distinct settings.
    pub(super) fn layout(&self, params: &[Param], n: usize) -> (Vec<Point>, Vec<usize>) {
        let mut points = Vec::new();
        let mut levels = vec![n; params.len()];
        if params.len() == 1 {
            let n = match &params[0].space {
                Space::Choice(c) => c.len(),
                // A range little wider than a stage is tried whole: a grid
                // of n over n + 1 whole numbers would skip one and the next
                // stage, narrowing to the same range, would add none.
                Space::Integer { .. } => {
                    let count = (self.bounds[0].1 - self.bounds[0].0) as usize + 1;
                    if count <= n + 1 {
                        count
                    } else {
                        n
                    }
                }
                Space::Continuous { .. } => n,
            };
            for i in 0..n.max(1) {
                let f = if n <= 1 {
                    0.5
                } else {
                    i as f64 / (n - 1) as f64
                };
                points.push(self.point(params, &[f]));
            }
        } else if let Some(grid) = self.grid_levels(params, n) {
            let size: usize = grid.iter().product();
            for mut k in 0..size {
                // The first key outermost.
                let mut u = vec![0.0; params.len()];
                for d in (0..params.len()).rev() {
                    let (j, m) = (k % grid[d], grid[d]);
                    k /= grid[d];
                    u[d] = if m <= 1 {
                        0.5
                    } else {
                        j as f64 / (m - 1) as f64
                    };
                }
                points.push(self.point(params, &u));
            }
            levels = grid;
        } else {
            // Snapped to whole numbers and choices, Halton points repeat
            // settings: drawn on until `n` distinct ones (or 20 n draws).
            levels = vec![3; params.len()];
            points.push(self.point(params, &vec![0.5; params.len()]));
            let mut seen: std::collections::BTreeSet<Vec<String>> =
                points.iter().map(|(s, _)| s.clone()).collect();
            for i in 0..20 * n {
                if points.len() >= n {
                    break;
                }
                let p = self.point(params, &halton_point(i, params.len()));
                if seen.insert(p.0.clone()) {
                    points.push(p);
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        points.retain(|(s, _)| seen.insert(s.clone()));
        (points, levels)
    }

    /// The region around `center` reaching to the neighbouring candidates
    /// of the last stage (one grid step), for the keys that can narrow. A
    /// single whole-number key narrows to the numbers strictly between the
    /// nearest values tried on either side (`tried`): rounding a grid step
    /// up could give back the same range, and the search would stop with
    /// numbers next to the best never tried.
    pub(super) fn around(
        &self,
        params: &[Param],
        center: &[f64],
        steps: &[f64],
        tried: &[f64],
    ) -> Region {
        let whole = Region::whole(params);
        let bounds = params
            .iter()
            .enumerate()
            .map(|(i, p)| match p.space {
                Space::Choice(_) => whole.bounds[i],
                Space::Integer { .. } if params.len() == 1 => {
                    let (lo, hi) = whole.bounds[i];
                    let below = tried.iter().copied().filter(|&x| x < center[i]);
                    let above = tried.iter().copied().filter(|&x| x > center[i]);
                    let low = below.fold(lo - 1.0, f64::max) + 1.0;
                    let high = above.fold(hi + 1.0, f64::min) - 1.0;
                    (low, high)
                }
                _ => {
                    let (lo, hi) = whole.bounds[i];
                    let step = steps[i];
                    ((center[i] - step).max(lo), (center[i] + step).min(hi))
                }
            })
            .collect();
        Region { bounds }
    }
}

/// Whether a continuous key's step from `low` to `high` is too narrow to
/// split further: a millionth of the range's larger end. The
/// one-objective stages stop zooming there, and the front's later stages
/// stop splitting gaps there.
fn too_narrow(step: f64, low: f64, high: f64) -> bool {
    step <= 1e-6 * high.abs().max(low.abs())
}

/// The spacing of the last stage's grid per parameter, from its levels
/// (0 where it cannot narrow further: choices, or integers one apart).
pub(super) fn stage_steps(params: &[Param], region: &Region, levels: &[usize]) -> Vec<f64> {
    params
        .iter()
        .zip(&region.bounds)
        .zip(levels)
        .map(|((p, (lo, hi)), &n)| {
            let step = (hi - lo) / (n.max(2) - 1) as f64;
            match &p.space {
                Space::Choice(_) => 0.0,
                Space::Integer { .. } if step < 1.0 => 0.0,
                Space::Integer { .. } => step.ceil(),
                Space::Continuous { log: true, .. } => {
                    // Geometric grids: narrow by the ratio of neighbours.
                    if *lo > 0.0 && step > 1e-9 * hi.abs() {
                        step
                    } else {
                        0.0
                    }
                }
                Space::Continuous { .. } if too_narrow(step, *lo, *hi) => 0.0,
                Space::Continuous { .. } => step,
            }
        })
        .collect()
}

/// A position in the unit cube of the whole space: each key's value as a
/// fraction of its range (of its logarithm for `:log` keys; a choice's
/// index among the choices).
pub(super) fn unit_position(params: &[Param], position: &[f64]) -> Vec<f64> {
    let fraction = |x: f64, lo: f64, hi: f64| if hi > lo { (x - lo) / (hi - lo) } else { 0.0 };
    params
        .iter()
        .zip(position)
        .map(|(p, &x)| match &p.space {
            Space::Continuous {
                low,
                high,
                log: true,
                ..
            } if *low > 0.0 && x > 0.0 => fraction(x.ln(), low.ln(), high.ln()),
            Space::Continuous { low, high, .. } => fraction(x, *low, *high),
            Space::Integer { low, high } => fraction(x, *low as f64, *high as f64),
            Space::Choice(c) => fraction(x, 0.0, (c.len() - 1) as f64),
        })
        .collect()
}

/// How wide the gap between two positions is, in the unit cube, over the
/// keys a midpoint can split as the one-objective stages narrow them: a
/// continuous key whose values differ by more than a millionth of its
/// range's larger end (where `stage_steps` stops narrowing), a
/// whole-number key whose values have a number strictly between. Choices
/// do not count (no value lies between two). 0: nothing left to split.
pub(super) fn gap_width(params: &[Param], a: &[f64], b: &[f64]) -> f64 {
    let (ua, ub) = (unit_position(params, a), unit_position(params, b));
    params
        .iter()
        .enumerate()
        .filter(|&(i, p)| {
            let d = (a[i] - b[i]).abs();
            match &p.space {
                Space::Continuous { low, high, .. } => !too_narrow(d, *low, *high),
                Space::Integer { .. } => d >= 2.0,
                Space::Choice(_) => false,
            }
        })
        .map(|(i, _)| (ua[i] - ub[i]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The settings halfway between two positions: each continuous key at the
/// midpoint (the geometric one for `:log` keys), each whole-number key at
/// the rounded midpoint, and the choices of one end or of the other (two
/// settings when they differ).
pub(super) fn midpoints(params: &[Param], a: &[f64], b: &[f64]) -> Vec<Point> {
    [a, b]
        .iter()
        .map(|end| {
            let bounds = params
                .iter()
                .enumerate()
                .map(|(i, p)| match p.space {
                    Space::Choice(_) => (end[i], end[i]),
                    _ => (a[i].min(b[i]), a[i].max(b[i])),
                })
                .collect();
            Region { bounds }.point(params, &vec![0.5; params.len()])
        })
        .collect()
}

/// Two objectives, a later stage: at most `most` new settings in the gaps
/// of the front (`front`, in the order of the first objective): halfway
/// between neighbouring members, and halfway between each end of the front
/// and the nearest candidate off the front beyond it (the nearest of those
/// whose nearest member is that end: where the front stops, at a
/// constraint's boundary or where both objectives turn worse). The widest
/// gaps first (in the unit cube of the space; ties in the front's order,
/// then the ends); settings already tried are not laid out again. Empty
/// when no gap is wider than the one-objective stages narrow to.
pub(super) fn gap_points(
    params: &[Param],
    candidates: &[Candidate],
    front: &[usize],
    most: usize,
) -> Vec<Point> {
    let unit: Vec<Vec<f64>> = candidates
        .iter()
        .map(|c| unit_position(params, &c.position))
        .collect();
    let distance = |i: usize, j: usize| {
        unit[i]
            .iter()
            .zip(&unit[j])
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut gaps: Vec<(usize, usize)> = front.windows(2).map(|w| (w[0], w[1])).collect();
    let outside: Vec<usize> = (0..candidates.len())
        .filter(|i| !front.contains(i) && !candidates[*i].replications.is_empty())
        .collect();
    let mut ends: Vec<usize> = front
        .first()
        .into_iter()
        .chain(front.last())
        .copied()
        .collect();
    ends.dedup();
    for e in ends {
        let nearest_member = |o: usize| {
            front
                .iter()
                .copied()
                .min_by(|&x, &y| distance(o, x).total_cmp(&distance(o, y)))
        };
        let beyond = outside
            .iter()
            .copied()
            .filter(|&o| nearest_member(o) == Some(e))
            .min_by(|&x, &y| distance(e, x).total_cmp(&distance(e, y)));
        if let Some(o) = beyond {
            gaps.push((e, o));
        }
    }
    let mut widths: Vec<(f64, usize, usize)> = gaps
        .into_iter()
        .map(|(a, b)| {
            let w = gap_width(params, &candidates[a].position, &candidates[b].position);
            (w, a, b)
        })
        .filter(|(w, _, _)| *w > 0.0)
        .collect();
    // Stable: equal widths keep their order.
    widths.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut seen: std::collections::BTreeSet<Vec<String>> =
        candidates.iter().map(|c| c.settings.clone()).collect();
    let mut points = Vec::new();
    for (_, a, b) in widths {
        for point in midpoints(params, &candidates[a].position, &candidates[b].position) {
            if points.len() < most && seen.insert(point.0.clone()) {
                points.push(point);
            }
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halton_points_spread_over_the_cube() {
        let points: Vec<Vec<f64>> = (0..64).map(|i| halton_point(i, 2)).collect();
        for d in 0..2 {
            let below = points.iter().filter(|p| p[d] < 0.5).count();
            assert!(
                (28..=36).contains(&below),
                "dimension {d}: {below} of 64 below 0.5"
            );
        }
        assert!(points.iter().flatten().all(|x| (0.0..1.0).contains(x)));
        // The radical inverses in bases 2 and 3, from the first index on.
        assert_eq!(halton_point(0, 2), [0.5, 1.0 / 3.0]);
        assert_eq!(halton_point(1, 2), [0.25, 2.0 / 3.0]);
        assert_eq!(halton_point(2, 2), [0.75, 1.0 / 9.0]);
    }

    #[test]
    fn a_one_dimensional_stage_is_an_even_grid_with_its_ends() {
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 1.0,
                high: 9.0,
                log: false,
                unit: "s".into(),
            },
        }];
        let (points, _) = Region::whole(&params).layout(&params, 5);
        let settings: Vec<&str> = points.iter().map(|(s, _)| s[0].as_str()).collect();
        assert_eq!(settings, ["1s", "3s", "5s", "7s", "9s"]);
    }

    #[test]
    fn a_small_space_of_several_keys_is_laid_out_as_a_full_grid() {
        let params = [
            Param {
                key: "consumer.prefetch".into(),
                space: Space::Integer { low: 1, high: 4 },
            },
            Param {
                key: "queue.kind".into(),
                space: Space::Choice(vec!["classic".into(), "quorum".into()]),
            },
        ];
        // 8 combinations: every one, not the 3 Halton points of before.
        let (points, levels) = Region::whole(&params).layout(&params, 8);
        assert_eq!(levels, [4, 2]);
        let settings: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(
            settings,
            [
                "1/classic",
                "1/quorum",
                "2/classic",
                "2/quorum",
                "3/classic",
                "3/quorum",
                "4/classic",
                "4/quorum"
            ]
        );
        // A continuous key takes the most levels the count allows.
        let params = [
            Param {
                key: "queue.ack_timeout".into(),
                space: Space::Continuous {
                    low: 2.0,
                    high: 9.0,
                    log: false,
                    unit: "s".into(),
                },
            },
            params[1].clone(),
        ];
        let (points, levels) = Region::whole(&params).layout(&params, 20);
        assert_eq!(levels, [10, 2]);
        assert_eq!(points.len(), 20);
        // Too many combinations for a grid: distinct Halton points.
        let (points, _) = Region::whole(&params).layout(&params, 5);
        assert_eq!(points.len(), 5);
    }

    fn tried(params: &[Param], values: &[(&[f64], Status)]) -> Vec<Candidate> {
        values
            .iter()
            .map(|(position, status)| {
                let region = Region {
                    bounds: position.iter().map(|&x| (x, x)).collect(),
                };
                let (settings, position) = region.point(params, &vec![0.5; params.len()]);
                let mut c = Candidate::new(settings, position, 0);
                c.replications.push(Map::new());
                c.status = *status;
                c
            })
            .collect()
    }

    #[test]
    fn later_stages_of_two_objectives_fill_the_gaps_of_the_front_widest_first() {
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 2.0,
                high: 10.0,
                log: false,
                unit: "s".into(),
            },
        }];
        use Status::*;
        let candidates = tried(
            &params,
            &[
                (&[2.0], Feasible),
                (&[4.0], Feasible),
                (&[8.0], Feasible),
                (&[10.0], Infeasible),
            ],
        );
        // The front 2, 4, 8 stops before 10: halfway in its gaps, the
        // widest first, then beyond its end; `most` caps them.
        let settings = |points: Vec<Point>| -> Vec<String> {
            points.into_iter().map(|(s, _)| s[0].clone()).collect()
        };
        let all = gap_points(&params, &candidates, &[0, 1, 2], 8);
        assert_eq!(settings(all), ["6s", "3s", "9s"]);
        let two = gap_points(&params, &candidates, &[0, 1, 2], 2);
        assert_eq!(settings(two), ["6s", "3s"]);
        // Whole numbers one apart leave nothing to split; a choice is
        // taken from either end.
        let params = [
            Param {
                key: "consumer.count".into(),
                space: Space::Integer { low: 1, high: 9 },
            },
            Param {
                key: "queue.kind".into(),
                space: Space::Choice(vec!["classic".into(), "quorum".into()]),
            },
        ];
        let candidates = tried(
            &params,
            &[
                (&[1.0, 0.0], Feasible),
                (&[2.0, 1.0], Feasible),
                (&[5.0, 1.0], Feasible),
            ],
        );
        let points = gap_points(&params, &candidates, &[0, 1, 2], 8);
        let joined: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(joined, ["4/quorum"]);
        let candidates = tried(&params, &[(&[1.0, 0.0], Feasible), (&[5.0, 1.0], Feasible)]);
        let points = gap_points(&params, &candidates, &[0, 1], 8);
        let joined: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(joined, ["3/classic", "3/quorum"]);
        // A log key's midpoint is the geometric one.
        let params = [Param {
            key: "retry.base".into(),
            space: Space::Continuous {
                low: 1.0,
                high: 100.0,
                log: true,
                unit: "ms".into(),
            },
        }];
        let candidates = tried(&params, &[(&[1.0], Feasible), (&[100.0], Feasible)]);
        assert_eq!(
            settings(gap_points(&params, &candidates, &[0, 1], 8)),
            ["10ms"]
        );
        // Nothing wider than the narrowing of the one-objective stages (a
        // millionth of the range's larger end).
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 0.0,
                high: 1000.0,
                log: false,
                unit: "s".into(),
            },
        }];
        let candidates = tried(&params, &[(&[1.0], Feasible), (&[1.0005], Feasible)]);
        assert_eq!(candidates[1].settings, ["1.0005s"]);
        assert!(gap_points(&params, &candidates, &[0, 1], 8).is_empty());
    }
}
