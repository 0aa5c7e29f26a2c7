//! Time series with fault windows shaded and labelled.

use super::*;
use crate::report::ReportError;

/// Time series (x = simulated time in s) of several named series (queue length, in flight,
/// waiting to retry, dead-lettered...), with fault windows shaded and labelled.
pub fn time_series<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    y_label: &str,
    series: &[Series],
    windows: &[Window],
) -> Result<(), ReportError> {
    render(
        target.into(),
        &TimeSeries {
            title,
            y_label,
            series,
            windows,
        },
    )
}

struct TimeSeries<'a> {
    title: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    windows: &'a [Window],
}

impl Chart for TimeSeries<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, self.title)?;
        let cleaned: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| good(x) && good(y))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                pts
            })
            .collect();
        let windows: Vec<(f64, f64, &str)> = self
            .windows
            .iter()
            .filter(|w| good(w.start) && good(w.end))
            .map(|w| (w.start.min(w.end), w.start.max(w.end), w.label.as_str()))
            .collect();

        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                name: series_name(&s.name, i),
                swatch: Swatch::Line(color(i)),
            })
            .collect();
        if !windows.is_empty() {
            entries.push(LegendEntry {
                name: "fault window".to_string(),
                swatch: Swatch::Shade,
            });
        }
        let (plot, legend) = with_legend(root, area, &entries)?;

        let data_x = extent(cleaned.iter().flatten().map(|p| p.0));
        let has_data = data_x.is_some();
        let x_ext = extent(
            cleaned
                .iter()
                .flatten()
                .map(|p| p.0)
                .chain(windows.iter().flat_map(|w| [w.0, w.1])),
        );
        let (x_lo, x_hi) = match x_ext {
            Some((lo, hi)) => widen(lo, hi),
            None => (0.0, 1.0),
        };
        let headroom = if windows.is_empty() { 0.05 } else { 0.16 };
        let (y_lo, y_hi) = value_range(extent(cleaned.iter().flatten().map(|p| p.1)), headroom);
        let mut chart = build_chart(&plot, x_lo..x_hi, y_lo..y_hi)?;
        let x_fmt = axis_fmt(x_lo, x_hi);
        let y_fmt = axis_fmt(y_lo, y_hi);
        chart
            .configure_mesh()
            .x_desc("Simulated time (s)")
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

        // Shaded windows below the data lines.
        for &(s, e, _) in &windows {
            let (s, e) = (s.max(x_lo), e.min(x_hi));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s, y_lo), (e, y_hi)],
                    SHADE.filled(),
                )))
                .map_err(err_str)?;
            for x in [s, e] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y_lo), (x, y_hi)],
                        SHADE_EDGE.stroke_width(1),
                    )))
                    .map_err(err_str)?;
            }
        }
        for (i, pts) in cleaned.iter().enumerate() {
            draw_line(&mut chart, pts, color(i))?;
        }
        // Window labels on top, staggered so that neighbouring labels do not collide.
        let label_style = (FONT, 12.0).into_font().color(&RGBColor(70, 70, 70));
        let x_span = x_hi - x_lo;
        for (j, &(s, e, label)) in windows.iter().enumerate() {
            if label.is_empty() {
                continue;
            }
            let (s, e) = (s.max(x_lo), e.min(x_hi));
            let row = (j % 3) as i32;
            let right_side = (s - x_lo) / x_span > 0.8;
            let (anchor_x, h, dx) = if right_side {
                (e, HPos::Right, -4)
            } else {
                (s, HPos::Left, 4)
            };
            let style = label_style.pos(Pos::new(h, VPos::Top));
            let label = fit_text(root, label, &style, 220)?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((anchor_x, y_hi))
                        + Text::new(label, (dx, 4 + row * 15), style),
                ))
                .map_err(err_str)?;
        }
        if !has_data {
            no_data(&chart, "no data")?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, &entries, 12)?;
        }
        Ok(())
    }
}
