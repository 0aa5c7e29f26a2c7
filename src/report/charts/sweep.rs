//! Sweep curves: one line per variant against the swept parameter, with
//! its 95% band.

use super::*;
use crate::report::ReportError;

/// Sweep curves: one line per band (variant) against the swept parameter, with a shaded
/// 95% interval band between lo and hi.
pub fn sweep_curves<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    x_label: &str,
    y_label: &str,
    bands: &[Band],
) -> Result<(), ReportError> {
    render(
        target.into(),
        &SweepCurves {
            title,
            x_label,
            y_label,
            bands,
        },
    )
}

struct SweepCurves<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    bands: &'a [Band],
}

/// One cleaned point of a band: x, mean, optional (lo, hi).
type BandPoint = (f64, f64, Option<(f64, f64)>);

fn clean_band(b: &Band) -> Vec<BandPoint> {
    let n = b.x.len().min(b.mean.len());
    let mut pts: Vec<BandPoint> = (0..n)
        .filter(|&i| good(b.x[i]) && good(b.mean[i]))
        .map(|i| {
            let lo = b.lo.get(i).copied().filter(|v| good(*v));
            let hi = b.hi.get(i).copied().filter(|v| good(*v));
            let interval = match (lo, hi) {
                (Some(l), Some(h)) => Some((l.min(h), l.max(h))),
                _ => None,
            };
            (b.x[i], b.mean[i], interval)
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

impl Chart for SweepCurves<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, self.title)?;
        let cleaned: Vec<Vec<BandPoint>> = self.bands.iter().map(clean_band).collect();
        let mut entries: Vec<LegendEntry> = self
            .bands
            .iter()
            .enumerate()
            .map(|(i, b)| LegendEntry {
                name: series_name(&b.name, i),
                swatch: Swatch::Band(color(i)),
            })
            .collect();
        let any_interval = cleaned.iter().flatten().any(|p| p.2.is_some());
        if any_interval {
            entries.push(LegendEntry {
                name: "shaded: 95% interval".to_string(),
                swatch: Swatch::Empty(RGBColor(225, 225, 225)),
            });
        }
        let (plot, legend) = with_legend(root, area, &entries)?;

        let x_ext = extent(cleaned.iter().flatten().map(|p| p.0));
        let y_ext = extent(cleaned.iter().flatten().flat_map(|p| {
            let (l, h) = p.2.unwrap_or((p.1, p.1));
            [p.1, l, h]
        }));
        let (x_lo, x_hi) = x_ext.map_or((0.0, 1.0), |(a, b)| widen(a, b));
        let (y_lo, y_hi) = match y_ext {
            Some((a, b)) => {
                let (a, b) = widen(a, b);
                let pad = (b - a) * 0.06;
                // Keep zero as the floor for non-negative data when it is close.
                let lo = if a >= 0.0 && a - pad < 0.0 {
                    0.0
                } else {
                    a - pad
                };
                (lo, b + pad)
            }
            None => (0.0, 1.0),
        };
        let (x_lo, x_hi) = if x_ext.is_some() {
            let pad = (x_hi - x_lo) * 0.02;
            (x_lo - pad, x_hi + pad)
        } else {
            (x_lo, x_hi)
        };
        let mut chart = build_chart(&plot, x_lo..x_hi, y_lo..y_hi)?;
        let x_fmt = axis_fmt(x_lo, x_hi);
        let y_fmt = axis_fmt(y_lo, y_hi);
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(LIGHT_LINES)
            .x_labels(12)
            .y_labels(10)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err_str)?;

        // Bands first (all of them), then lines on top.
        for (i, pts) in cleaned.iter().enumerate() {
            for run in pts.split(|p| p.2.is_none()) {
                if run.is_empty() {
                    continue;
                }
                let mut poly: Vec<(f64, f64)> = Vec::with_capacity(run.len() * 2);
                poly.extend(run.iter().filter_map(|p| p.2.map(|(_, h)| (p.0, h))));
                poly.extend(run.iter().rev().filter_map(|p| p.2.map(|(l, _)| (p.0, l))));
                if run.len() == 1 {
                    // A single point: draw the interval as an error bar.
                    let (x, _, iv) = run[0];
                    if let Some((l, h)) = iv {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(x, l), (x, h)],
                                color(i).mix(0.5).stroke_width(6),
                            )))
                            .map_err(err_str)?;
                    }
                    continue;
                }
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        poly,
                        color(i).mix(0.2).filled(),
                    )))
                    .map_err(err_str)?;
            }
        }
        for (i, pts) in cleaned.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    color(i).stroke_width(2),
                ))
                .map_err(err_str)?;
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 3, color(i).filled())))
                .map_err(err_str)?;
        }
        if x_ext.is_none() {
            no_data(&chart, "no data")?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, &entries, 12)?;
        }
        Ok(())
    }
}
