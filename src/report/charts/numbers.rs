//! Axis ranges that survive empty, flat and non-finite data, and the
//! number formats of ticks and labels.

use super::*;

/// Min and max of the good values, or None.
pub(super) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| good(*v))
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A finite, non-empty range covering `lo..hi`.
pub(super) fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let scale = lo.abs().max(hi.abs());
    if hi - lo <= scale * 1e-9 || hi - lo < 1e-300 {
        let d = if scale > 1e-300 { scale * 0.1 } else { 1.0 };
        (lo - d, hi + d)
    } else {
        (lo, hi)
    }
}

/// A range for counts or other values that should include zero, with head room on top.
pub(super) fn value_range(ext: Option<(f64, f64)>, headroom: f64) -> (f64, f64) {
    match ext {
        None => (0.0, 1.0),
        Some((lo, hi)) => {
            let lo = lo.min(0.0);
            let hi = hi.max(0.0);
            if hi - lo <= 0.0 {
                return (0.0, 1.0);
            }
            let span = hi - lo;
            let lo = if lo < 0.0 { lo - span * headroom } else { lo };
            let hi = if hi > 0.0 { hi + span * headroom } else { hi };
            widen(lo, hi)
        }
    }
}

pub(super) fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Compact tick label: "0", "0.25", "12", "15k", "2.5M", "1e-5".
pub(super) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < 1e-12 {
        return "0".to_string();
    }
    if a >= 1e4 {
        const SI: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
        if a >= 1e15 {
            return sci(v);
        }
        for (scale, suffix) in SI {
            if a >= scale {
                return format!("{}{}", trim_zeros(format!("{:.3}", v / scale)), suffix);
            }
        }
    }
    if a < 1e-3 {
        return sci(v);
    }
    let s = trim_zeros(format!("{v:.6}"));
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

pub(super) fn sci(v: f64) -> String {
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{}", trim_zeros(m.to_string()), e),
        None => s,
    }
}

/// Tick formatter shared by all labels of one axis, so that they use the same notation:
/// plain decimals, or one SI suffix (k, M, G, T) chosen from the axis magnitude, or
/// scientific notation for very small or very large magnitudes.
pub(super) fn axis_fmt(lo: f64, hi: f64) -> Box<dyn Fn(&f64) -> String> {
    let m = lo.abs().max(hi.abs());
    if !m.is_finite() || m >= 1e15 || (m > 0.0 && m < 1e-3) {
        return Box::new(|v: &f64| {
            if v.abs() < 1e-300 {
                "0".to_string()
            } else {
                sci(*v)
            }
        });
    }
    if m >= 1e4 {
        let (scale, suffix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(scale, _)| m >= *scale)
            .unwrap_or((1e3, "k"));
        let tiny = m * 1e-9;
        return Box::new(move |v: &f64| {
            if v.abs() < tiny {
                "0".to_string()
            } else {
                format!("{}{}", trim_zeros(format!("{:.3}", v / scale)), suffix)
            }
        });
    }
    let tiny = m * 1e-9;
    Box::new(move |v: &f64| {
        if v.abs() <= tiny {
            "0".to_string()
        } else {
            trim_zeros(format!("{v:.6}"))
        }
    })
}

/// Powers of ten as "10⁻³"; other values via `fmt_num`.
pub(super) fn fmt_pow10(v: f64) -> String {
    if !(v.is_finite() && v > 0.0) {
        return fmt_num(v);
    }
    let k = v.log10().round();
    if (v / 10f64.powf(k) - 1.0).abs() > 1e-6 {
        return fmt_num(v);
    }
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let k = k as i64;
    let mut s = String::from("10");
    if k < 0 {
        s.push('⁻');
    }
    for d in k.unsigned_abs().to_string().bytes() {
        s.push(SUP[usize::from(d - b'0')]);
    }
    s
}

/// Bar value label: exact integers when integral, else 3 significant digits.
pub(super) fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < 1e5 && (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        return format!("{:.0}", v.round());
    }
    if !(1e-4..1e4).contains(&a) {
        return fmt_num(v);
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
    trim_zeros(format!("{v:.decimals$}"))
}

/// Seconds with SI prefix: "10 µs", "1 ms", "100 s".
pub(super) fn fmt_seconds(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return fmt_num(v);
    }
    let (scaled, unit) = if v >= 1.0 {
        (v, "s")
    } else if v >= 1e-3 {
        (v * 1e3, "ms")
    } else if v >= 1e-6 {
        (v * 1e6, "µs")
    } else {
        (v * 1e9, "ns")
    };
    format!("{} {}", fmt_num(scaled), unit)
}
