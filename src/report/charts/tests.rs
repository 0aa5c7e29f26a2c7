//! The charts' own tests: every chart renders, in PNG and SVG, whatever
//! the data (empty, NaN, infinite, flat), and the same data gives the same
//! bytes.

use super::heatmap::viridis;
use super::*;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, unique directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "mqsim-charts-{}-{}-{}-{}",
        name,
        std::process::id(),
        nanos,
        n
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 33, "{} too short", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!((w, h), (1000, 600), "{}", path.display());
}

fn check_svg(path: &Path, title: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.trim_start();
    assert!(
        start.starts_with("<svg") || start.starts_with("<?xml"),
        "{} does not start like an SVG",
        path.display()
    );
    assert!(text.contains(title), "{} lacks its title", path.display());
    assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
}

/// Renders with `f` to PNG and SVG, twice each, and checks validity and determinism.
fn check_all(name: &str, title: &str, f: impl Fn(&Path) -> Result<(), ReportError>) {
    let dir = temp_dir(name);
    for ext in ["png", "svg"] {
        let a = dir.join(format!("{name}_a.{ext}"));
        let b = dir.join(format!("{name}_b.{ext}"));
        f(&a).unwrap();
        f(&b).unwrap();
        if ext == "png" {
            check_png(&a);
        } else {
            check_svg(&a, title);
        }
        let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(!ba.is_empty());
        assert_eq!(ba, bb, "{name}.{ext} is not deterministic");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn sample_series(n: usize) -> Vec<Series> {
    (0..n)
        .map(|i| Series {
            name: format!("variant {i}"),
            points: (0..50)
                .map(|j| {
                    let x = 1e-4 * 1.2f64.powi(j) * (i + 1) as f64;
                    (x, j as f64 / 49.0)
                })
                .collect(),
        })
        .collect()
}

fn sample_bands() -> Vec<Band> {
    (0..3)
        .map(|i| {
            let x: Vec<f64> = (0..8).map(|k| k as f64 * 0.1).collect();
            let mean: Vec<f64> = x.iter().map(|v| v * (i + 1) as f64).collect();
            Band {
                name: format!("band {i}"),
                lo: mean.iter().map(|m| m - 0.05).collect(),
                hi: mean.iter().map(|m| m + 0.05).collect(),
                x,
                mean,
            }
        })
        .collect()
}

fn sample_grid() -> Vec<Vec<f64>> {
    (0..12)
        .map(|r| (0..9).map(|c| 0.5f64.powi(r + c)).collect())
        .collect()
}

#[test]
fn latency_cdf_renders() {
    let data = sample_series(3);
    check_all("cdf", "Latency CDF test", |p| {
        latency_cdf(p, "Latency CDF test", &data)
    });
    check_all("cdf_one", "Single CDF", |p| {
        latency_cdf(p, "Single CDF", &sample_series(1))
    });
    check_all("cdf_empty", "Empty CDF", |p| {
        latency_cdf(p, "Empty CDF", &[])
    });
}

#[test]
fn time_series_renders() {
    let data: Vec<Series> = (0..4)
        .map(|i| Series {
            name: format!("s{i}"),
            points: (0..100)
                .map(|t| (t as f64, (t * (i + 1)) as f64 % 17.0))
                .collect(),
        })
        .collect();
    let windows = vec![
        Window {
            start: 10.0,
            end: 20.0,
            label: "crash".into(),
        },
        Window {
            start: 95.0,
            end: 90.0,
            label: "partition".into(),
        },
    ];
    check_all("ts", "Time series test", |p| {
        time_series(p, "Time series test", "Messages", &data, &windows)
    });
    check_all("ts_empty", "Empty series", |p| {
        time_series(p, "Empty series", "Messages", &[], &[])
    });
    check_all("ts_windows_only", "Windows only", |p| {
        time_series(p, "Windows only", "Messages", &[], &windows)
    });
}

#[test]
fn outcome_bars_renders() {
    let variants: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    let cats: Vec<String> = vec!["acked".into(), "duplicated".into(), "lost".into()];
    let values = vec![
        vec![900.0, 50.0, 50.0],
        vec![1000.0, 0.0, 0.0],
        vec![0.5, 0.25],
    ];
    check_all("bars", "Outcome test", |p| {
        outcome_bars(p, "Outcome test", "Messages", &variants, &cats, &values)
    });
    check_all("bars_empty", "Empty bars", |p| {
        outcome_bars(p, "Empty bars", "Messages", &[], &[], &[])
    });
    // Mismatched shapes: more value rows than variants, longer rows than categories.
    let ragged = vec![vec![1.0, 2.0, 3.0, 4.0], vec![], vec![f64::NAN, -2.0]];
    check_all("bars_ragged", "Ragged bars", |p| {
        outcome_bars(p, "Ragged bars", "Fraction", &variants[..1], &cats, &ragged)
    });
}

#[test]
fn sweep_curves_renders() {
    let bands = sample_bands();
    check_all("sweep", "Sweep test", |p| {
        sweep_curves(p, "Sweep test", "Load (msg/s)", "p99 latency (s)", &bands)
    });
    check_all("sweep_empty", "Empty sweep", |p| {
        sweep_curves(p, "Empty sweep", "x (s)", "y (s)", &[])
    });
}

#[test]
fn heatmap_renders() {
    let grid = sample_grid();
    check_all("heat_log", "Heat log", |p| {
        heatmap(p, "Heat log", "orbit o", "queue q", &grid, true)
    });
    check_all("heat_lin", "Heat linear", |p| {
        heatmap(p, "Heat linear", "orbit o", "queue q", &grid, false)
    });
    check_all("heat_empty", "Empty heat", |p| {
        heatmap(p, "Empty heat", "orbit o", "queue q", &[], true)
    });
    check_all("heat_zero_rows", "Zero rows", |p| {
        heatmap(p, "Zero rows", "o", "q", &[vec![], vec![]], false)
    });
}

#[test]
fn degenerate_data_does_not_panic() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let bad = vec![
        Series {
            name: String::new(),
            points: vec![(nan, 0.5), (inf, 1.0), (-1.0, 0.2), (0.0, 0.1), (1e-3, nan)],
        },
        Series {
            name: "single".into(),
            points: vec![(0.01, 0.5)],
        },
        Series {
            name: "flat".into(),
            points: vec![(5.0, 3.0), (5.0, 3.0)],
        },
    ];
    let windows = vec![
        Window {
            start: nan,
            end: 1.0,
            label: String::new(),
        },
        Window {
            start: 5.0,
            end: 5.0,
            label: "instant".into(),
        },
    ];
    let bands = vec![
        Band {
            name: "short".into(),
            x: vec![1.0, 2.0, 3.0],
            mean: vec![1.0, nan],
            lo: vec![],
            hi: vec![2.0],
        },
        Band {
            name: "flat".into(),
            x: vec![2.0, 2.0],
            mean: vec![0.0, 0.0],
            lo: vec![0.0, 0.0],
            hi: vec![0.0, inf],
        },
    ];
    let grids = [
        vec![vec![0.0; 4]; 3],
        vec![vec![nan, inf], vec![-1.0]],
        vec![vec![7.0]],
        vec![vec![-3.0, 0.0, 2.0], vec![1e-300, 1e300, 5.0]],
    ];
    for ext in ["png", "svg"] {
        let dir = temp_dir("degenerate");
        let p = |n: &str| dir.join(format!("{n}.{ext}"));
        latency_cdf(&p("cdf"), "bad cdf", &bad).unwrap();
        time_series(&p("ts"), "bad ts", "y (msgs)", &bad, &windows).unwrap();
        sweep_curves(&p("sweep"), "bad sweep", "x", "y", &bands).unwrap();
        outcome_bars(
            &p("bars"),
            "zero bars",
            "n",
            &["v".to_string()],
            &["k".to_string()],
            &[vec![0.0]],
        )
        .unwrap();
        for (i, g) in grids.iter().enumerate() {
            for log in [false, true] {
                heatmap(&p(&format!("heat{i}{log}")), "bad heat", "x", "y", g, log).unwrap();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn unsupported_extension_is_an_error_naming_the_path() {
    let dir = temp_dir("ext");
    for name in ["chart.jpg", "chart", "chart.svg.txt"] {
        let path = dir.join(name);
        let err = latency_cdf(&path, "t", &[]).unwrap_err();
        assert!(matches!(err, ReportError::Render(_)), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(!path.exists());
    }
    // Upper-case extensions are accepted.
    let path = dir.join("chart.PNG");
    latency_cdf(&path, "t", &[]).unwrap();
    check_png(&path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_path_is_an_error_naming_the_path() {
    let dir = temp_dir("unwritable");
    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    // A path "below" a regular file cannot be created.
    let path = file.join("chart.png");
    let err = heatmap(&path, "t", "x", "y", &sample_grid(), true).unwrap_err();
    assert!(matches!(err, ReportError::Write(_)), "{err:?}");
    assert_eq!(err.exit_code(), crate::report::files::WRITE_FAILED);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn number_formatting() {
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(0.30000000000000004), "0.3");
    assert_eq!(fmt_num(12500.0), "12.5k");
    assert_eq!(fmt_num(2.5e-5), "2.5e-5");
    assert_eq!(fmt_seconds(1e-3), "1 ms");
    assert_eq!(fmt_seconds(1e-5), "10 µs");
    assert_eq!(fmt_seconds(100.0), "100 s");
    assert_eq!(fmt_pow10(1e-3), "10⁻³");
    assert_eq!(fmt_pow10(100.0), "10²");
    assert_eq!(fmt_value(9512.0), "9512");
    assert_eq!(fmt_value(0.12345), "0.123");
    let f = axis_fmt(0.0, 12000.0);
    assert_eq!(f(&8000.0), "8k");
    assert_eq!(f(&0.0), "0");
    let f = axis_fmt(0.0, 1.0);
    assert_eq!(f(&0.25), "0.25");
    assert_eq!(viridis(f64::NAN), viridis(0.0));
    assert_eq!(color(0), color(PALETTE.len()));
}
