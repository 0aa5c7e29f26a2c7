//! Heat maps: retry-orbit occupancy (log colour scale) and two-parameter
//! sweep grids (values written in the cells), with a colour bar.

use super::*;
use crate::report::ReportError;

/// Heat map of a 2-D occupancy grid (`grid[row][col]`, e.g. retry-orbit P(q, o)), with a
/// colour-scale legend. Row 0 is drawn at the bottom. With `log_scale`, colours follow
/// log10 of the value and cells with values <= 0 are drawn in light grey.
pub fn heatmap<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    x_label: &str,
    y_label: &str,
    grid: &[Vec<f64>],
    log_scale: bool,
) -> Result<(), ReportError> {
    render(
        target.into(),
        &Heatmap {
            title,
            x_label,
            y_label,
            grid,
            log_scale,
            x_ticks: &[],
            y_ticks: &[],
            value_label: None,
        },
    )
}

/// Heat map of a grid over two swept parameters (`grid[row][col]`, row =
/// index of the second parameter's value, col = the first's), the axes
/// labelled with the values as written, each cell showing its value, and
/// a linear colour scale named `value_label`.
pub fn grid_heatmap<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    axes: &GridAxes,
    grid: &[Vec<f64>],
    value_label: &str,
) -> Result<(), ReportError> {
    render(
        target.into(),
        &Heatmap {
            title,
            x_label: &axes.x_label,
            y_label: &axes.y_label,
            grid,
            log_scale: false,
            x_ticks: &axes.x_ticks,
            y_ticks: &axes.y_ticks,
            value_label: Some(value_label),
        },
    )
}

/// The axes of a [`grid_heatmap`]: their names and the values as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridAxes {
    pub x_label: String,
    pub y_label: String,
    pub x_ticks: Vec<String>,
    pub y_ticks: Vec<String>,
}

/// Viridis colour map (perceptually uniform, colour-blind friendly), 11 stops.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// Colour for t in 0..1 (clamped; NaN maps to 0).
pub(super) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

const NON_POSITIVE: RGBColor = RGBColor(236, 236, 236);

struct Heatmap<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    grid: &'a [Vec<f64>],
    log_scale: bool,
    /// Tick labels by column and row index (empty: the indices).
    x_ticks: &'a [String],
    y_ticks: &'a [String],
    /// Write each cell's value in it, and name the colour scale so.
    value_label: Option<&'a str>,
}

/// Maps cell values to colours: `Some(colour)` or `None` for cells left blank.
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn t(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn color(&self, v: f64) -> Option<RGBColor> {
        if !good(v) {
            None
        } else if self.log && v <= 0.0 {
            Some(NON_POSITIVE)
        } else {
            Some(viridis(self.t(v)))
        }
    }
}

impl Chart for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, self.title)?;
        let rows = self.grid.len();
        let cols = self.grid.iter().map(Vec::len).max().unwrap_or(0);
        let cells = || self.grid.iter().flatten().copied().filter(|v| good(*v));
        let ext = if self.log_scale {
            extent(cells().filter(|v| *v > 0.0))
        } else {
            extent(cells())
        };
        let scale = ext.map(|(lo, hi)| {
            if self.log_scale {
                let a = lo.log10().floor();
                let b = hi.log10().ceil();
                let b = if b > a { b } else { a + 1.0 };
                Scale {
                    log: true,
                    lo: 10f64.powf(a),
                    hi: 10f64.powf(b),
                }
            } else {
                // Occupancies and counts are non-negative: anchor the scale at zero.
                let lo = if lo >= 0.0 { 0.0 } else { lo };
                let (lo, hi) = widen(lo, hi);
                Scale { log: false, lo, hi }
            }
        });
        let has_zero_cells = self.log_scale && cells().any(|v| v <= 0.0);
        let has_colour_scale = scale.is_some();
        // With a log scale and no positive value, still show the (grey) non-positive cells.
        let scale = scale.or_else(|| {
            has_zero_cells.then_some(Scale {
                log: true,
                lo: 1.0,
                hi: 10.0,
            })
        });

        let (plot_w, _) = area.dim_in_pixel();
        let bar_w = 150;
        let (plot, bar_area) = area.split_horizontally(plot_w as i32 - bar_w);

        let x_range = -0.5..(cols.max(1) as f64 - 0.5);
        let y_range = -0.5..(rows.max(1) as f64 - 0.5);
        let mut chart = build_chart(&plot, x_range, y_range)?;
        let tick = |ticks: &[String], v: &f64| {
            if (v - v.round()).abs() < 1e-9 && *v >= 0.0 {
                match ticks.get(v.round() as usize) {
                    Some(t) => t.clone(),
                    None if ticks.is_empty() => fmt_num(v.round()),
                    None => String::new(),
                }
            } else {
                String::new()
            }
        };
        let x_fmt = |v: &f64| tick(self.x_ticks, v);
        let y_fmt = |v: &f64| tick(self.y_ticks, v);
        let (x_n, y_n) = if self.x_ticks.is_empty() {
            (cols.clamp(1, 12) + 1, rows.clamp(1, 12) + 1)
        } else {
            (cols.max(1) * 2 + 1, rows.max(1) * 2 + 1)
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .x_labels(x_n)
            .y_labels(y_n)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err_str)?;

        if let Some(scale) = &scale {
            // Merge horizontal runs of equal colour to keep SVG output small.
            for (r, row) in self.grid.iter().enumerate() {
                let mut c = 0;
                while c < row.len() {
                    let Some(col) = scale.color(row[c]) else {
                        c += 1;
                        continue;
                    };
                    let mut end = c + 1;
                    while end < row.len() && scale.color(row[end]) == Some(col) {
                        end += 1;
                    }
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [
                                (c as f64 - 0.5, r as f64 - 0.5),
                                (end as f64 - 0.5, r as f64 + 0.5),
                            ],
                            col.filled(),
                        )))
                        .map_err(err_str)?;
                    c = end;
                }
            }
        }
        if let (Some(_), Some(scale)) = (self.value_label, &scale) {
            for (r, row) in self.grid.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    if !good(*v) {
                        continue;
                    }
                    let dark = scale.t(*v) < 0.55;
                    let colour = if dark { WHITE } else { BLACK };
                    let style = font(TICK_SIZE)
                        .color(&colour)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart
                        .draw_series(std::iter::once(Text::new(
                            fmt_value(*v),
                            (c as f64, r as f64),
                            style,
                        )))
                        .map_err(err_str)?;
                }
            }
        }
        if !has_colour_scale {
            let message = if has_zero_cells {
                "no positive values (log scale)"
            } else {
                "no data"
            };
            no_data(&chart, message)?;
        }

        // Colour bar, vertically aligned with the plotting area.
        if let (Some(scale), true) = (&scale, has_colour_scale) {
            draw_colour_bar(&bar_area, scale, has_zero_cells, self.value_label)?;
        }
        Ok(())
    }
}

fn draw_colour_bar<DB: DrawingBackend>(
    area: &Root<DB>,
    scale: &Scale,
    has_zero_cells: bool,
    label: Option<&str>,
) -> Result<(), String> {
    let desc = match label {
        Some(l) => l,
        None if scale.log => "value (log scale)",
        None => "value",
    };
    let bar = area.margin(12, 8 + 52, 8, 0);
    let (bar_area, _) = bar.split_horizontally(100);
    const STEPS: usize = 128;
    let lin_fmt = axis_fmt(scale.lo, scale.hi);
    let log_fmt = |v: &f64| fmt_pow10(*v);
    if scale.log {
        let mut cb = ChartBuilder::on(&bar_area)
            .margin_left(4)
            .right_y_label_area_size(70)
            // Nudge the ends outwards so both end decades get a tick despite rounding.
            .build_cartesian_2d(
                0.0..1.0,
                (scale.lo * (1.0 - 1e-9)..scale.hi * (1.0 + 1e-9)).log_scale(),
            )
            .map_err(err_str)?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(desc)
            .axis_desc_style(font(DESC_SIZE - 2.0))
            .label_style(font(TICK_SIZE - 1.0))
            .axis_style(AXIS)
            .y_labels(((scale.hi / scale.lo).log10().round() as usize).clamp(1, 12) + 1)
            .y_label_formatter(&log_fmt)
            .draw()
            .map_err(err_str)?;
        let (a, b) = (scale.lo.log10(), scale.hi.log10());
        cb.draw_series((0..STEPS).map(|i| {
            let y0 = 10f64.powf(a + (b - a) * i as f64 / STEPS as f64);
            let y1 = 10f64.powf(a + (b - a) * (i + 1) as f64 / STEPS as f64);
            let t = (i as f64 + 0.5) / STEPS as f64;
            Rectangle::new([(0.0, y0), (1.0, y1)], viridis(t).filled())
        }))
        .map_err(err_str)?;
    } else {
        let mut cb = ChartBuilder::on(&bar_area)
            .margin_left(4)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..1.0, scale.lo..scale.hi)
            .map_err(err_str)?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(desc)
            .axis_desc_style(font(DESC_SIZE - 2.0))
            .label_style(font(TICK_SIZE - 1.0))
            .axis_style(AXIS)
            .y_labels(8)
            .y_label_formatter(&lin_fmt)
            .draw()
            .map_err(err_str)?;
        let (a, b) = (scale.lo, scale.hi);
        cb.draw_series((0..STEPS).map(|i| {
            let y0 = a + (b - a) * i as f64 / STEPS as f64;
            let y1 = a + (b - a) * (i + 1) as f64 / STEPS as f64;
            let t = (i as f64 + 0.5) / STEPS as f64;
            Rectangle::new([(0.0, y0), (1.0, y1)], viridis(t).filled())
        }))
        .map_err(err_str)?;
    }
    if has_zero_cells {
        let (_, h) = area.dim_in_pixel();
        let y = h as i32 - 30;
        draw_swatch(area, Swatch::Empty(NON_POSITIVE), 4, y)?;
        let style = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new("≤ 0", (4 + SWATCH_W + 4, y), style))
            .map_err(err_str)?;
    }
    Ok(())
}
