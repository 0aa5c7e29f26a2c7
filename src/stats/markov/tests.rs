use super::*;
use statrs::distribution::{ContinuousCDF, Gamma};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn retry_chain(p: f64, k: usize) -> AbsorbingChain {
    // attempt_1..attempt_k transient, then "acked", "dead_letter".
    let mut states: Vec<String> = (1..=k).map(|i| format!("attempt_{i}")).collect();
    states.push("acked".into());
    states.push("dead_letter".into());
    let n = k + 2;
    let scale = 1_000_000.0;
    let fail = (p * scale).round() as u64;
    let ok = (scale as u64) - fail;
    let mut counts = vec![vec![0u64; n]; n];
    for (i, row) in counts.iter_mut().enumerate().take(k) {
        row[k] = ok;
        row[if i + 1 < k { i + 1 } else { k + 1 }] = fail;
    }
    AbsorbingChain::from_counts(states, k, &counts)
}

#[test]
fn retry_chain_dead_letter() {
    for &(p, k) in &[(0.25, 3usize), (0.5, 5), (0.1, 1)] {
        let ch = retry_chain(p, k);
        let b = ch.absorption(0).expect("absorbing");
        let pk = p.powi(k as i32);
        assert!(close(b[1], pk, 1e-12), "dead {} vs {}", b[1], pk);
        assert!(close(b[0], 1.0 - pk, 1e-12));
        let visits: f64 = ch.expected_visits(0).expect("visits").iter().sum();
        assert!(close(visits, (1.0 - pk) / (1.0 - p), 1e-12));
    }
}

#[test]
fn gamblers_ruin() {
    // States 1..4 transient, 0 and 5 absorbing; win prob p.
    for &pw in &[0.5, 0.6] {
        let n_top = 5usize;
        let names: Vec<String> = (1..n_top)
            .map(|i| format!("{i}"))
            .chain(["0".to_string(), "5".to_string()])
            .collect();
        let t = n_top - 1;
        let mut p = vec![vec![0.0; n_top + 1]; n_top + 1];
        for i in 1..n_top {
            let r = i - 1;
            let up = if i + 1 == n_top { t + 1 } else { r + 1 };
            let down = if i == 1 { t } else { r - 1 };
            p[r][up] = pw;
            p[r][down] = 1.0 - pw;
        }
        p[t][t] = 1.0;
        p[t + 1][t + 1] = 1.0;
        let ch = AbsorbingChain {
            states: names,
            transient: t,
            p,
        };
        for i in 1..n_top {
            let b = ch.absorption(i - 1).expect("abs");
            let win = if pw == 0.5 {
                i as f64 / n_top as f64
            } else {
                let r: f64 = (1.0 - pw) / pw;
                (1.0 - r.powi(i as i32)) / (1.0 - r.powi(n_top as i32))
            };
            assert!(close(b[1], win, 1e-12), "i={i} {} vs {win}", b[1]);
            if pw == 0.5 {
                let steps: f64 = ch.expected_visits(i - 1).expect("v").iter().sum();
                assert!(close(steps, (i * (n_top - i)) as f64, 1e-12));
            }
        }
    }
}

#[test]
fn absorbing_edge_cases() {
    let names = |k: usize| (0..k).map(|i| format!("s{i}")).collect::<Vec<_>>();
    // Unobserved transient row -> uniform over absorbing states.
    let ch = AbsorbingChain::from_counts(names(4), 2, &[vec![0, 0, 3, 1]]);
    assert_eq!(ch.p[1], vec![0.0, 0.0, 0.5, 0.5]);
    assert_eq!(ch.p[3], vec![0.0, 0.0, 0.0, 1.0]);
    assert!(close(ch.absorption(0).expect("a")[0], 0.75, 1e-15));
    // Transient trap -> singular.
    let trap = AbsorbingChain {
        states: names(2),
        transient: 1,
        p: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
    };
    assert!(trap.fundamental().is_none());
    assert!(trap.absorption(0).is_none());
    assert!(ch.absorption(2).is_none());
    let bad = AbsorbingChain {
        states: names(2),
        transient: 1,
        p: vec![vec![f64::NAN, 1.0]],
    };
    assert!(bad.fundamental().is_none());
    // No absorbing states at all.
    let none = AbsorbingChain::from_counts(names(2), 5, &[]);
    assert_eq!(none.transient, 2);
    assert!(none.fundamental().is_none());
}

fn birth_death(lambda: f64, mu: f64, k: usize) -> SparseGenerator {
    let mut g = SparseGenerator::new(k + 1);
    for i in 0..k {
        g.add(i, i + 1, lambda);
        g.add(i + 1, i, mu);
    }
    g
}

#[test]
fn gth_and_gap_on_birth_death() {
    // M/M/1/K: lambda_1 = -(l+m) + 2 sqrt(l m) cos(pi/(K+1)).
    for &(l, m, k) in &[
        (0.5, 1.0, 10usize),
        (9.5, 10.0, 100),
        (3.0, 1.0, 40),
        (1.0, 1.0, 1),
    ] {
        let g = birth_death(l, m, k);
        let pi = g.stationary().expect("pi");
        let rho: f64 = l / m;
        let z: f64 = (0..=k).map(|n| rho.powi(n as i32)).sum();
        for (n, p) in pi.iter().enumerate() {
            assert!(close(*p, rho.powi(n as i32) / z, 1e-12));
        }
        assert!(g.residual(&pi) < 1e-14);
        let want =
            -(l + m) + 2.0 * (l * m).sqrt() * (std::f64::consts::PI / (k as f64 + 1.0)).cos();
        let got = second_eigenvalue(&g, &pi).expect("gap");
        assert!(close(got, want, 1e-9), "K={k}: {got} vs {want}");
        assert!(close(spectral_gap(&g, &pi).expect("gap"), -want, 1e-9));
    }
}

#[test]
fn gap_complex_and_metastable() {
    // 3-cycle at rate 1: eigenvalues 0, -1.5 ± 0.866i.
    let mut g = SparseGenerator::new(3);
    g.add(0, 1, 1.0);
    g.add(1, 2, 1.0);
    g.add(2, 0, 1.0);
    let pi = g.stationary().expect("pi");
    assert!(pi.iter().all(|p| close(*p, 1.0 / 3.0, 1e-14)));
    let got = second_eigenvalue(&g, &pi).expect("gap");
    assert!(close(got, -1.5, 1e-9), "{got}");
    // Two wells joined by a weak link eps: lambda_2 = -(2+eps) + sqrt(4+eps^2)
    // for the symmetric 4-state chain 0-1 (1), 1-2 (eps), 2-3 (1).
    let eps = 1e-7;
    let mut g = SparseGenerator::new(4);
    for (a, b, r) in [(0, 1, 1.0), (1, 2, eps), (2, 3, 1.0)] {
        g.add(a, b, r);
        g.add(b, a, r);
    }
    let pi = g.stationary().expect("pi");
    // Eigenvalues of this symmetric chain: 0, -2, and the roots of
    // x^2 + (2 + 2 eps) x + 2 eps = 0 (slow mode ~ -eps).
    let want = -(1.0 + eps) + ((1.0 + eps) * (1.0 + eps) - 2.0 * eps).sqrt();
    let got = second_eigenvalue(&g, &pi).expect("gap");
    assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
    assert!(second_eigenvalue(&SparseGenerator::new(1), &[1.0]).is_none());
    assert!(second_eigenvalue(&g, &[1.0]).is_none());
}

#[test]
fn sojourn_tails() {
    let (mu, tau) = (2.0, 1.5);
    // c = 1: Erlang(q+1, mu) survival.
    let t = sojourn_tail_table(30, 1, mu, tau).expect("tails");
    for (q, v) in t.iter().enumerate() {
        let g = Gamma::new(q as f64 + 1.0, mu).expect("gamma");
        assert!(close(*v, g.sf(tau), 1e-12), "q={q}");
    }
    // c = 2, k = 1: W ~ Exp(2 mu), S ~ Exp(mu): tail = 2e^{-mu t} - e^{-2 mu t}.
    let t2 = sojourn_tail_table(40, 2, mu, tau).expect("tails");
    assert!(close(t2[0], (-mu * tau).exp(), 1e-15));
    assert!(close(t2[1], (-mu * tau).exp(), 1e-15));
    let want = 2.0 * (-mu * tau).exp() - (-2.0 * mu * tau).exp();
    assert!(close(t2[2], want, 1e-12));
    // Monotone in q, in [0, 1], tends to 1.
    for w in t2.windows(2) {
        assert!(w[1] >= w[0] - 1e-15);
    }
    assert!(t2[40] > 0.999_999);
    // c = 3 against numerical convolution of Erlang(k, 3mu) with Exp(mu).
    let t3 = sojourn_tail_table(8, 3, mu, tau).expect("tails");
    for (q, &val) in t3.iter().enumerate().skip(3) {
        let k = (q - 2) as f64;
        let erl = Gamma::new(k, 3.0 * mu).expect("gamma");
        let steps = 20_000;
        let h = tau / steps as f64;
        let integral: f64 = (0..steps)
            .map(|i| {
                let w = (i as f64 + 0.5) * h;
                use statrs::distribution::Continuous;
                erl.pdf(w) * (-mu * (tau - w)).exp() * h
            })
            .sum();
        let want = erl.sf(tau) + integral;
        assert!(close(val, want, 1e-7), "q={q}: {val} vs {want}");
    }
    // Huge queue and mu*tau: no overflow.
    let big = sojourn_tail_table(5000, 4, 100.0, 30.0).expect("tails");
    assert!(big.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    assert!(sojourn_tail_table(3, 0, 1.0, 1.0).is_none());
    assert!(sojourn_tail_table(3, 1, f64::NAN, 1.0).is_none());
}

fn check_solution(p: &OrbitParams, s: &OrbitSolution) {
    let total: f64 = s.occupancy.iter().flatten().sum();
    assert!(close(total, 1.0, 1e-12));
    assert!(close(s.throughput + s.failure_rate, p.lambda, 1e-9));
    assert!(s.second_eigenvalue < 0.0);
    assert!(close(s.mixing_time_s, -1.0 / s.second_eigenvalue, 1e-12));
}

#[test]
fn orbit_without_retries_is_mmck() {
    for &(lambda, mu, c) in &[(9.5, 10.0, 1u32), (5.0, 2.0, 3)] {
        let p = OrbitParams {
            lambda,
            mu,
            threads: c,
            timeout_s: 3.0,
            max_retries: 0,
            queue_bound: 60,
            orbit_bound: 10,
            queue_is_capacity: true,
            modelling: Modelling::mqsim(),
        };
        let s = solve_orbit(&p).expect("solves");
        check_solution(&p, &s);
        let th = crate::stats::theory::mmck(lambda, mu, c, 60).expect("mmck");
        assert!(
            close(s.mean_queue, th.l, 1e-10),
            "{} vs {}",
            s.mean_queue,
            th.l
        );
        assert_eq!(s.mean_orbit, 0.0);
        // Queue marginal equals the M/M/c/K law.
        let dist = crate::stats::theory::stationary_length(lambda, mu, c, Some(60), 60).expect("d");
        let marg: Vec<f64> = s.occupancy.iter().map(|r| r.iter().sum()).collect();
        assert!(crate::stats::theory::total_variation(&marg, &dist) < 1e-12);
    }
    // Single server: slowest mode is the M/M/1/K one (1/tau is faster).
    let p = OrbitParams {
        lambda: 9.5,
        mu: 10.0,
        threads: 1,
        timeout_s: 3.0,
        max_retries: 0,
        queue_bound: 60,
        orbit_bound: 4,
        queue_is_capacity: true,
        modelling: Modelling::mqsim(),
    };
    let s = solve_orbit(&p).expect("solves");
    let want = -(19.5) + 2.0 * 95.0_f64.sqrt() * (std::f64::consts::PI / 61.0).cos();
    assert!(
        close(s.second_eigenvalue, want, 1e-8),
        "{} vs {want}",
        s.second_eigenvalue
    );
}

#[test]
fn orbit_reference_setting() {
    let p = OrbitParams {
        lambda: 9.5,
        mu: 10.0,
        threads: 1,
        timeout_s: 3.0,
        max_retries: 4,
        queue_bound: 100,
        orbit_bound: 20,
        queue_is_capacity: true,
        modelling: Modelling::mqsim(),
    };
    let start = std::time::Instant::now();
    let s = solve_orbit(&p).expect("solves");
    let took = start.elapsed();
    check_solution(&p, &s);
    println!(
        "reference: mean_queue={:.6} mean_orbit={:.6} throughput={:.3e} failure_rate={:.6} \
         mass_at_bounds={:.6e} lambda2={:.6e} mixing_time_s={:.6} took={:?}",
        s.mean_queue,
        s.mean_orbit,
        s.throughput,
        s.failure_rate,
        s.mass_at_bounds,
        s.second_eigenvalue,
        s.mixing_time_s,
        took
    );
    let tail = sojourn_tail_table(100, 1, 10.0, 3.0).expect("tails");
    let (g, idx) = orbit_generator(&p, &tail);
    let mut pi = vec![0.0; g.n()];
    for (q, row) in s.occupancy.iter().enumerate() {
        for (o, v) in row.iter().enumerate() {
            pi[idx(q, o)] = *v;
        }
    }
    assert!(g.residual(&pi) <= 1e-12, "{}", g.residual(&pi));
    // The untruncated chain is unstable here: once the orbit is full the
    // offered load (9.5 + 20 * 4/15 per s) exceeds mu = 10, the queue
    // sits at its bound and every request times out.
    assert!(s.mass_at_bounds > 0.3 && s.throughput < 1e-6);
    assert_eq!(s.occupancy.len(), 101);
    assert_eq!(s.occupancy[0].len(), 21);
}

#[test]
fn orbit_invalid_inputs() {
    let ok = OrbitParams {
        lambda: 1.0,
        mu: 2.0,
        threads: 2,
        timeout_s: 1.0,
        max_retries: 2,
        queue_bound: 10,
        orbit_bound: 30,
        queue_is_capacity: true,
        modelling: Modelling::mqsim(),
    };
    let s = solve_orbit(&ok).expect("solves");
    check_solution(&ok, &s);
    for bad in [
        OrbitParams {
            lambda: f64::NAN,
            ..ok.clone()
        },
        OrbitParams {
            mu: 0.0,
            ..ok.clone()
        },
        OrbitParams {
            threads: 0,
            ..ok.clone()
        },
        OrbitParams {
            timeout_s: 0.0,
            ..ok.clone()
        },
        OrbitParams {
            queue_bound: 0,
            ..ok.clone()
        },
        OrbitParams {
            queue_bound: usize::MAX,
            ..ok.clone()
        },
    ] {
        assert!(solve_orbit(&bad).is_none());
    }
    // lambda = 0: empty system.
    let s = solve_orbit(&OrbitParams { lambda: 0.0, ..ok }).expect("solves");
    assert!(close(s.occupancy[0][0], 1.0, 1e-15));
}

/// Metafor's configurations: mu 10/s, one server, queue 100; A: timeout
/// 3 s, 4 retries; B: 9 s, 3 retries.
fn config(tau: f64, retries: u32, lambda: f64) -> OrbitParams {
    OrbitParams {
        lambda,
        mu: 10.0,
        threads: 1,
        timeout_s: tau,
        max_retries: retries,
        queue_bound: 100,
        orbit_bound: 20,
        queue_is_capacity: true,
        modelling: Modelling::mqsim(),
    }
}

/// With bounds sized automatically the mass at the truncating bounds is
/// below 1e-6 on both configurations, at low and high load; at the
/// fixed orbit bound of 20 it was 40-60% at the examples' load.
#[test]
fn automatic_bounds_leave_no_truncation() {
    for (tau, r) in [(3.0, 4), (9.0, 3)] {
        for lambda in [2.0, 9.5] {
            let p = config(tau, r, lambda);
            let fixed = solve_orbit(&p).expect("solves");
            let (b, s) = solve_orbit_auto(&p, false, 400_000).expect("solves");
            assert!(
                s.mass_at_bounds < 1e-6,
                "tau {tau} lambda {lambda}: {}",
                s.mass_at_bounds
            );
            assert!(b.orbit_bound > 20 || fixed.mass_at_bounds < 1e-6);
            if lambda > 9.0 {
                assert!(fixed.mass_at_bounds > 0.05, "{}", fixed.mass_at_bounds);
            }
            let total: f64 = s.occupancy.iter().flatten().sum();
            assert!(close(total, 1.0, 1e-12));
            // Conservation: goodput + failures = arrivals.
            assert!(close(s.throughput + s.failure_rate, lambda, 1e-8));
        }
    }
}

/// `metastable_risk` separates: false well below the threshold, true
/// well above it, on both configurations.
#[test]
fn metastable_risk_on_both_sides_of_the_threshold() {
    for (tau, r, low, high) in [(3.0, 4, 2.0, 9.0), (9.0, 3, 5.0, 9.5)] {
        for (lambda, want) in [(low, false), (high, true)] {
            let (b, s) = solve_orbit_auto(&config(tau, r, lambda), false, 400_000).expect("solves");
            let m = metastability(&b, &s).expect("verdict");
            assert_eq!(m.metastable_risk, want, "tau {tau} lambda {lambda}: {m:?}");
            if want {
                assert!(m.high_mode_mass > 0.5);
            } else {
                assert!(m.high_mode_mass < 1e-6);
            }
        }
    }
}

/// Metafor's own chain, ported (alpha 0.25, Chebyshev tail, a full
/// queue drops, doomed arrivals counted twice, 100 x 20 states), gives
/// its published thresholds (6.37/s for A, 9.33/s for B, computed with
/// its code) within 1%.
#[test]
fn metafor_port_reproduces_its_thresholds() {
    for (tau, r, published) in [(3.0, 4, 6.37), (9.0, 3, 9.33)] {
        let p = OrbitParams {
            queue_bound: 99,
            orbit_bound: 19,
            modelling: Modelling::metafor(),
            ..config(tau, r, 1.0)
        };
        let t = threshold_lambda(&p, true, 400_000).expect("a threshold");
        assert!(
            (t - published).abs() <= 0.01 * published,
            "tau {tau}: {t} vs {published}"
        );
    }
}

/// Hitting times on a birth-death chain: from n to 0 in M/M/1 takes
/// n / (mu - lambda).
#[test]
fn hitting_times_of_a_birth_death_chain() {
    let g = birth_death(2.0, 10.0, 400);
    let mut target = vec![false; 401];
    target[0] = true;
    let h = g.hitting_times(&target).expect("solves");
    for n in [1usize, 10, 50] {
        assert!(close(h[n], n as f64 / 8.0, 1e-9), "{n}: {}", h[n]);
    }
}
