//! The latency CDF: one curve per variant on a log time axis.

use super::*;
use crate::report::ReportError;

/// Latency CDF per variant, log-scaled time axis (seconds), y = fraction of messages 0..1.
///
/// Each series' points are `(latency_s, cumulative_fraction)`; they are sorted by
/// latency and joined by straight segments. Points with non-positive or non-finite
/// latency (not representable on a log axis) are skipped; fractions are clamped to 0..1.
pub fn latency_cdf<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    variants: &[Series],
) -> Result<(), ReportError> {
    render(
        target.into(),
        &LatencyCdf {
            title,
            x_desc: "Latency (s, log scale)",
            y_desc: "Fraction of messages (cumulative)",
            variants,
        },
    )
}

/// A CDF of any durations (`mqsim fit`'s data beside its fitted laws), as
/// [`latency_cdf`] draws it, with its own axis label.
pub fn duration_cdf<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    x_desc: &str,
    series: &[Series],
) -> Result<(), ReportError> {
    render(
        target.into(),
        &LatencyCdf {
            title,
            x_desc,
            y_desc: "Fraction (cumulative)",
            variants: series,
        },
    )
}

struct LatencyCdf<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    variants: &'a [Series],
}

impl Chart for LatencyCdf<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, self.title)?;
        // Clean, sorted data per variant.
        let cleaned: Vec<Vec<(f64, f64)>> = self
            .variants
            .iter()
            .map(|s| {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| good(x) && x > 0.0 && y.is_finite())
                    .map(|(x, y)| (x, y.clamp(0.0, 1.0)))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                pts
            })
            .collect();
        let ext = extent(cleaned.iter().flatten().map(|p| p.0));
        let entries: Vec<LegendEntry> = self
            .variants
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                name: series_name(&s.name, i),
                swatch: Swatch::Line(color(i)),
            })
            .collect();
        let entries = if entries.len() > 1 || cleaned.iter().any(|c| !c.is_empty()) {
            entries
        } else {
            Vec::new()
        };
        let (plot, legend) = with_legend(root, area, &entries)?;

        // Whole decades, so that every decade gets a labelled tick.
        let (lo_dec, hi_dec) = match ext {
            Some((lo, hi)) => {
                let a = lo.log10().floor();
                let b = hi.log10().ceil();
                (a, if b > a { b } else { a + 1.0 })
            }
            None => (-3.0, 0.0),
        };
        let decades = (hi_dec - lo_dec) as usize;
        let x_range = (10f64.powf(lo_dec)..10f64.powf(hi_dec)).log_scale();
        let mut chart = build_chart(&plot, x_range, 0.0..1.0)?;
        let x_fmt = |v: &f64| fmt_seconds(*v);
        let y_fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(LIGHT_LINES)
            .x_labels(decades.clamp(1, 12) + 1)
            .x_max_light_lines(10)
            .y_labels(11)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err_str)?;

        for (i, pts) in cleaned.iter().enumerate() {
            draw_line(&mut chart, pts, color(i))?;
        }
        if ext.is_none() {
            no_data(&chart, "no data")?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, &entries, 12)?;
        }
        Ok(())
    }
}
