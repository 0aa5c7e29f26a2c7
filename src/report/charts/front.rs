//! The Pareto front of a two-objective `mqsim optimize`: every setting
//! tried (and not found infeasible) as a grey point, the front as a
//! coloured line joining its points, so the trade-off between the two
//! objectives can be read off. A child of `charts` for its drawing helpers.

use super::{
    build_chart, color, draw_legend, err_str, extent, font, render, titled, widen, with_legend,
    Chart, LegendEntry, Root, Swatch, AXIS, DESC_SIZE, GRID_BOLD, GRID_LIGHT, LIGHT_LINES,
    TICK_SIZE,
};
use crate::report::ReportError;
use plotters::prelude::*;

/// What the chart shows, objectives in the user's sense (not sign-adjusted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// (first objective, second objective) of each setting tried.
    pub tried: Vec<(f64, f64)>,
    /// The front's points, in the order of the first objective.
    pub front: Vec<(f64, f64)>,
}

/// Draws the front to `path` (`.png` or `.svg`).
pub fn pareto_front<'a>(
    target: impl Into<super::Target<'a>>,
    chart: &FrontChart,
) -> Result<(), ReportError> {
    render(target.into(), chart)
}

/// Grey for the settings tried that are not on the front.
const TRIED: RGBColor = RGBColor(170, 170, 170);

impl Chart for FrontChart {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, &self.title)?;
        let good = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let tried: Vec<(f64, f64)> = self.tried.iter().filter(good).copied().collect();
        let mut front: Vec<(f64, f64)> = self.front.iter().filter(good).copied().collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let entries = vec![
            LegendEntry {
                name: "Pareto front".to_string(),
                swatch: Swatch::Line(color(0)),
            },
            LegendEntry {
                name: "other settings tried".to_string(),
                swatch: Swatch::Bar(TRIED),
            },
        ];
        let (plot, legend) = with_legend(root, area, &entries)?;
        let all = || tried.iter().chain(&front);
        let range = |ext: Option<(f64, f64)>| {
            let (lo, hi) = ext.map_or((0.0, 1.0), |(a, b)| widen(a, b));
            let pad = (hi - lo) * 0.06;
            (lo - pad, hi + pad)
        };
        let (x_lo, x_hi) = range(extent(all().map(|p| p.0)));
        let (y_lo, y_hi) = range(extent(all().map(|p| p.1)));
        let mut chart = build_chart(&plot, x_lo..x_hi, y_lo..y_hi)?;
        let x_fmt = super::axis_fmt(x_lo, x_hi);
        let y_fmt = super::axis_fmt(y_lo, y_hi);
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(LIGHT_LINES)
            .x_labels(10)
            .y_labels(10)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err_str)?;
        chart
            .draw_series(tried.iter().map(|&p| Circle::new(p, 4, TRIED.filled())))
            .map_err(err_str)?;
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                color(0).stroke_width(2),
            ))
            .map_err(err_str)?;
        chart
            .draw_series(front.iter().map(|&p| Circle::new(p, 5, color(0).filled())))
            .map_err(err_str)?;
        if front.is_empty() {
            super::no_data(&chart, "no setting confirmed feasible: no front")?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, &entries, 12)?;
        }
        Ok(())
    }
}
