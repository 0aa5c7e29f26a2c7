//! The legend beside a chart: swatches (line, band, bar, shade, marker)
//! and names, sized to the longest name.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum Swatch {
    Line(RGBColor),
    Bar(RGBColor),
    Band(RGBColor),
    Shade,
    Empty(RGBColor),
}

pub(super) struct LegendEntry {
    pub(super) name: String,
    pub(super) swatch: Swatch,
}

pub(super) const SWATCH_W: i32 = 26;
pub(super) const LEGEND_ROW: i32 = 24;

pub(super) fn legend_width<DB: DrawingBackend>(
    root: &Root<DB>,
    entries: &[LegendEntry],
) -> Result<i32, String> {
    let style = font(LEGEND_SIZE);
    let mut w = 0;
    for e in entries {
        w = w.max(text_width(root, &e.name, &style)?);
    }
    Ok((w + SWATCH_W + 44).clamp(140, 300))
}

/// Splits `area` into (plot area, legend area) when there are legend entries.
pub(super) fn with_legend<DB: DrawingBackend>(
    root: &Root<DB>,
    area: Root<DB>,
    entries: &[LegendEntry],
) -> Result<(Root<DB>, Option<Root<DB>>), String> {
    if entries.is_empty() {
        return Ok((area, None));
    }
    let w = legend_width(root, entries)?;
    let (plot_w, _) = area.dim_in_pixel();
    let (plot, legend) = area.split_horizontally(plot_w as i32 - w);
    Ok((plot, Some(legend)))
}

pub(super) fn draw_swatch<DB: DrawingBackend>(
    area: &Root<DB>,
    swatch: Swatch,
    x: i32,
    y: i32,
) -> Result<(), String> {
    let mid = y;
    match swatch {
        Swatch::Line(c) => area
            .draw(&PathElement::new(
                vec![(x, mid), (x + SWATCH_W, mid)],
                c.stroke_width(3),
            ))
            .map_err(err_str),
        Swatch::Bar(c) => area
            .draw(&Rectangle::new(
                [(x + 4, mid - 7), (x + SWATCH_W - 4, mid + 7)],
                c.filled(),
            ))
            .map_err(err_str),
        Swatch::Band(c) => {
            area.draw(&Rectangle::new(
                [(x, mid - 7), (x + SWATCH_W, mid + 7)],
                c.mix(0.22).filled(),
            ))
            .map_err(err_str)?;
            area.draw(&PathElement::new(
                vec![(x, mid), (x + SWATCH_W, mid)],
                c.stroke_width(3),
            ))
            .map_err(err_str)
        }
        Swatch::Shade => {
            area.draw(&Rectangle::new(
                [(x, mid - 8), (x + SWATCH_W, mid + 8)],
                SHADE.filled(),
            ))
            .map_err(err_str)?;
            area.draw(&Rectangle::new(
                [(x, mid - 8), (x + SWATCH_W, mid + 8)],
                SHADE_EDGE.stroke_width(1),
            ))
            .map_err(err_str)
        }
        Swatch::Empty(c) => {
            area.draw(&Rectangle::new(
                [(x + 4, mid - 7), (x + SWATCH_W - 4, mid + 7)],
                c.filled(),
            ))
            .map_err(err_str)?;
            area.draw(&Rectangle::new(
                [(x + 4, mid - 7), (x + SWATCH_W - 4, mid + 7)],
                RGBColor(170, 170, 170).stroke_width(1),
            ))
            .map_err(err_str)
        }
    }
}

/// Draws a boxed legend in `area`, starting `top` pixels from the area's top.
pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &Root<DB>,
    entries: &[LegendEntry],
    top: i32,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    let max_rows = ((h - top - 20) / LEGEND_ROW).max(1) as usize;
    let (shown, hidden) = if entries.len() > max_rows {
        (
            max_rows.saturating_sub(1).max(1),
            entries.len() - max_rows.saturating_sub(1).max(1),
        )
    } else {
        (entries.len(), 0)
    };
    let rows = shown + usize::from(hidden > 0);
    let box_l = 6;
    let box_r = w - 10;
    let box_b = top + 10 + rows as i32 * LEGEND_ROW;
    area.draw(&Rectangle::new(
        [(box_l, top), (box_r, box_b)],
        WHITE.filled(),
    ))
    .map_err(err_str)?;
    area.draw(&Rectangle::new(
        [(box_l, top), (box_r, box_b)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))
    .map_err(err_str)?;
    let text_x = box_l + 10 + SWATCH_W + 8;
    let max_text = box_r - text_x - 6;
    for (i, e) in entries.iter().take(shown).enumerate() {
        let y = top + 5 + LEGEND_ROW / 2 + i as i32 * LEGEND_ROW;
        draw_swatch(area, e.swatch, box_l + 10, y)?;
        let name = fit_text(area, &e.name, &style, max_text)?;
        area.draw(&Text::new(name, (text_x, y), style.clone()))
            .map_err(err_str)?;
    }
    if hidden > 0 {
        let y = top + 5 + LEGEND_ROW / 2 + shown as i32 * LEGEND_ROW;
        let muted = (FONT, LEGEND_SIZE)
            .into_font()
            .color(&MUTED)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            format!("+{hidden} more"),
            (box_l + 10, y),
            muted,
        ))
        .map_err(err_str)?;
    }
    Ok(())
}

pub(super) fn series_name(name: &str, i: usize) -> String {
    if name.trim().is_empty() {
        format!("series {}", i + 1)
    } else {
        name.to_string()
    }
}
