//! Grouped bars of outcomes per variant, each bar labelled.

use super::*;
use crate::report::ReportError;

/// Grouped bars per variant: outcome breakdown (acked, duplicated, dead-lettered, lost...).
/// `categories` = outcome names; `values[v][k]` = count or fraction for variant v, category k.
///
/// One group of bars per variant, one colour per category (stable by category index),
/// each bar labelled with its value so that small categories stay readable. Missing
/// entries (ragged rows) and non-finite values are left out.
pub fn outcome_bars<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    y_label: &str,
    variants: &[String],
    categories: &[String],
    values: &[Vec<f64>],
) -> Result<(), ReportError> {
    render(
        target.into(),
        &OutcomeBars {
            title,
            y_label,
            variants,
            categories,
            values,
        },
    )
}

struct OutcomeBars<'a> {
    title: &'a str,
    y_label: &'a str,
    variants: &'a [String],
    categories: &'a [String],
    values: &'a [Vec<f64>],
}

impl Chart for OutcomeBars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String> {
        let area = titled(root, self.title)?;
        let n_groups = self.variants.len().max(self.values.len());
        let n_cats = self
            .values
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.categories.len());
        let value = |g: usize, k: usize| -> Option<f64> {
            self.values
                .get(g)
                .and_then(|row| row.get(k))
                .copied()
                .filter(|v| good(*v))
        };
        let entries: Vec<LegendEntry> = (0..n_cats)
            .map(|k| LegendEntry {
                name: self
                    .categories
                    .get(k)
                    .map(|c| series_name(c, k))
                    .unwrap_or_else(|| format!("category {}", k + 1)),
                swatch: Swatch::Bar(color(k)),
            })
            .collect();
        let (plot, legend) = with_legend(root, area, &entries)?;

        let all = (0..n_groups).flat_map(|g| (0..n_cats).filter_map(move |k| value(g, k)));
        let has_data = all.clone().next().is_some();
        let (y_lo, y_hi) = value_range(extent(all), 0.10);
        let groups = n_groups.max(1) as f64;
        let mut chart = build_chart(&plot, 0.0..groups, y_lo..y_hi)?;
        let fmt = axis_fmt(y_lo, y_hi);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("Variant")
            .y_desc(self.y_label)
            .axis_desc_style(font(DESC_SIZE))
            .label_style(font(TICK_SIZE))
            .axis_style(AXIS)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .max_light_lines(LIGHT_LINES)
            .y_labels(10)
            .y_label_formatter(&fmt)
            .draw()
            .map_err(err_str)?;

        let group_px = {
            let a = chart.backend_coord(&(0.0, 0.0)).0;
            let b = chart.backend_coord(&(1.0, 0.0)).0;
            (b - a).max(1)
        };
        let inner = 0.76;
        let bar_w = inner / n_cats.max(1) as f64;
        let bar_px = group_px as f64 * bar_w;
        let value_style = (FONT, 11.0)
            .into_font()
            .color(&TEXT)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        let value_style_neg = value_style.pos(Pos::new(HPos::Center, VPos::Top));
        let zero = 0.0f64.clamp(y_lo, y_hi);
        for g in 0..n_groups {
            for k in 0..n_cats {
                let Some(v) = value(g, k) else { continue };
                let x0 = g as f64 + (1.0 - inner) / 2.0 + k as f64 * bar_w;
                let x1 = x0 + bar_w * 0.9;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, zero), (x1, v)],
                        color(k).filled(),
                    )))
                    .map_err(err_str)?;
                let label = fmt_value(v);
                let fits = f64::from(text_width(root, &label, &value_style)?) <= bar_px + 4.0;
                if fits {
                    let (style, dy) = if v < 0.0 {
                        (value_style_neg.clone(), 3)
                    } else {
                        (value_style.clone(), -3)
                    };
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at(((x0 + x1) / 2.0, v))
                                + Text::new(label, (0, dy), style),
                        ))
                        .map_err(err_str)?;
                }
            }
        }
        // Variant names under each group, drawn in absolute pixels on the root.
        let name_style = font(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
        for g in 0..n_groups {
            let name = self
                .variants
                .get(g)
                .map(|s| series_name(s, g))
                .unwrap_or_else(|| format!("variant {}", g + 1));
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, y_lo));
            let name = fit_text(root, &name, &name_style, group_px - 6)?;
            root.draw(&Text::new(name, (px, py + 8), name_style.clone()))
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
