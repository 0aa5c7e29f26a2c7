//! A quantile-quantile plot: for each fitted law, the data's quantiles
//! against the law's at the same probabilities. A law that describes the
//! data lies on the diagonal; where it bends away (usually in the tail) is
//! where the law would mislead a simulation.

use super::*;
use crate::report::ReportError;

/// What the chart shows: one series per law, points (law's quantile,
/// data's quantile), in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QqChart {
    pub title: String,
    pub series: Vec<Series>,
}

/// Draws the Q-Q plot to `target` (`.png` or `.svg`).
pub fn qq_plot<'a>(target: impl Into<Target<'a>>, chart: &QqChart) -> Result<(), ReportError> {
    render(target.into(), chart)
}

/// The diagonal: where a law that fits puts its points.
const DIAGONAL: RGBColor = RGBColor(150, 150, 150);

impl Chart for QqChart {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, &self.title)?;
        let cleaned: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| good(x) && good(y))
                    .collect()
            })
            .collect();
        let all = cleaned.iter().flatten();
        let (lo, hi) =
            extent(all.flat_map(|p| [p.0, p.1])).map_or((0.0, 1.0), |(a, b)| widen(a, b));
        let (lo, hi) = (lo.min(0.0), hi + (hi - lo) * 0.04);
        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                name: series_name(&s.name, i),
                swatch: Swatch::Line(color(i)),
            })
            .collect();
        entries.push(LegendEntry {
            name: "data = law".to_string(),
            swatch: Swatch::Line(DIAGONAL),
        });
        let (plot, legend) = with_legend(root, area, &entries)?;
        let mut chart = build_chart(&plot, lo..hi, lo..hi)?;
        let fmt = |v: &f64| fmt_seconds(*v);
        chart
            .configure_mesh()
            .x_desc("Quantile of the fitted law (s)")
            .y_desc("Quantile of the data (s)")
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(LIGHT_LINES)
            .x_labels(11)
            .y_labels(11)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .draw()
            .map_err(err_str)?;
        chart
            .draw_series(LineSeries::new(
                [(lo, lo), (hi, hi)],
                DIAGONAL.stroke_width(1),
            ))
            .map_err(err_str)?;
        for (i, points) in cleaned.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err_str)?;
        }
        if cleaned.iter().all(Vec::is_empty) {
            no_data(&chart, "no data")?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, &entries, 12)?;
        }
        Ok(())
    }
}
