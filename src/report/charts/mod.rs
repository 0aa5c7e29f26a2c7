//! Chart rendering for simulation reports.
//!
//! Every function takes plain data (all times already in seconds) and writes one
//! chart to `path`. The output format follows the path's extension: `.png`
//! (1000x600 bitmap) or `.svg` (1000x600 vector); any other extension is an
//! error. The font (DejaVu Sans) is embedded in the binary and registered with
//! plotters once, so rendering needs no system fonts.
//!
//! Rendering never panics on awkward data: empty inputs, NaN, infinities and
//! zero-width ranges produce a chart with a "no data" caption or skip the bad
//! points. Output is deterministic: the same input gives the same bytes.

mod cdf;
pub mod front;
mod heatmap;
mod legend;
mod numbers;
mod outcome_bars;
mod qq;
mod sweep;
#[cfg(test)]
mod tests;
mod time_series;

pub use cdf::{duration_cdf, latency_cdf};
pub use heatmap::{grid_heatmap, heatmap, GridAxes};
use legend::*;
use numbers::*;
pub use outcome_bars::outcome_bars;
pub use qq::{qq_plot, QqChart};
pub use sweep::sweep_curves;
pub use time_series::time_series;

use crate::report::ReportError;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use plotters::coord::ranged1d::AsRangedCoord;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One named curve with a confidence band: `mean[i]` at `x[i]`, interval `lo[i]..hi[i]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Band {
    pub name: String,
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

/// A labelled time interval (e.g. a fault window), in simulated seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

// ---------------------------------------------------------------------------
// Shared infrastructure
// ---------------------------------------------------------------------------

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 600;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

static FONT_ONCE: Once = Once::new();
static FONT_OK: AtomicBool = AtomicBool::new(false);

/// Registers the embedded font with plotters exactly once.
fn ensure_font() -> Result<(), String> {
    FONT_ONCE.call_once(|| {
        let ok = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok();
        FONT_OK.store(ok, Ordering::SeqCst);
    });
    if FONT_OK.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err("embedded font DejaVuSans.ttf could not be loaded".to_string())
    }
}

/// Okabe–Ito colour-blind-safe palette (black moved last, yellow darkened for contrast on white).
/// The fill and edge of a fault window (time series and legend).
const SHADE: RGBAColor = RGBAColor(0, 0, 0, 0.07);
const SHADE_EDGE: RGBAColor = RGBAColor(0, 0, 0, 0.28);

const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(190, 170, 0),   // yellow (darkened)
    RGBColor(0, 0, 0),       // black
];

/// Colour for the series with index `i`; stable by index.
fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const TEXT: RGBColor = RGBColor(34, 34, 34);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const GRID_BOLD: RGBColor = RGBColor(222, 222, 222);
const GRID_LIGHT: RGBColor = RGBColor(242, 242, 242);
const AXIS: RGBColor = RGBColor(90, 90, 90);
/// Minor grid divisions between two labelled ticks.
const LIGHT_LINES: usize = 2;

const TITLE_SIZE: f64 = 24.0;
const DESC_SIZE: f64 = 16.0;
const TICK_SIZE: f64 = 13.0;
const LEGEND_SIZE: f64 = 14.0;

/// Largest magnitude accepted as a data value; larger values are treated as bad points.
const MAX_ABS: f64 = 1e100;

fn good(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_ABS
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&TEXT)
}

fn err_str<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

type Root<DB> = DrawingArea<DB, Shift>;

/// A chart that can draw itself on any plotters backend.
trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &Root<DB>) -> Result<(), String>;
}

enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some(Format::Png),
        "svg" => Some(Format::Svg),
        _ => None,
    }
}

/// Where a chart goes: a file, PNG or SVG by its extension, written
/// through the one atomic writer; or SVG text kept in memory (the HTML
/// report inlines its charts).
pub enum Target<'a> {
    File(&'a Path),
    Svg(&'a std::cell::RefCell<String>),
}

impl<'a> From<&'a Path> for Target<'a> {
    fn from(path: &'a Path) -> Target<'a> {
        Target::File(path)
    }
}

impl<'a> From<&'a std::path::PathBuf> for Target<'a> {
    fn from(path: &'a std::path::PathBuf) -> Target<'a> {
        Target::File(path)
    }
}

/// Draws a chart in memory, then writes it through the one atomic writer
/// (never opening the final name itself, so a link planted there is
/// replaced, not followed) or hands the SVG text over.
fn render<C: Chart>(target: Target<'_>, chart: &C) -> Result<(), ReportError> {
    let path = match target {
        Target::File(path) => path,
        Target::Svg(text) => {
            ensure_font().map_err(ReportError::Render)?;
            *text.borrow_mut() = svg_text(chart).map_err(ReportError::Render)?;
            return Ok(());
        }
    };
    let fail = |msg: String| ReportError::Render(format!("chart {}: {}", path.display(), msg));
    let format = format_of(path)
        .ok_or_else(|| fail("unsupported file extension (expected .png or .svg)".into()))?;
    ensure_font().map_err(fail)?;
    let bytes = match format {
        Format::Png => {
            let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
                chart.draw(&root).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                &pixels,
                WIDTH,
                HEIGHT,
                image::ColorType::Rgb8,
            )
            .map_err(|e| fail(e.to_string()))?;
            png
        }
        Format::Svg => svg_text(chart).map_err(fail)?.into_bytes(),
    };
    super::files::write_atomic(path, &bytes)
}

/// The chart as SVG text.
fn svg_text<C: Chart>(chart: &C) -> Result<String, String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

/// Fills the background, draws the title and returns the area below it.
fn titled<DB: DrawingBackend>(root: &Root<DB>, title: &str) -> Result<Root<DB>, String> {
    root.fill(&WHITE).map_err(err_str)?;
    let style = (FONT, TITLE_SIZE).into_font().color(&BLACK);
    let text = if title.is_empty() { " " } else { title };
    let text = fit_text(root, text, &style, WIDTH as i32 - 20)?;
    let area = root.titled(&text, style).map_err(err_str)?;
    Ok(area.margin(4, 0, 0, 0))
}

/// Shortens `text` with an ellipsis until it fits in `max_w` pixels.
fn fit_text<DB: DrawingBackend>(
    area: &Root<DB>,
    text: &str,
    style: &TextStyle,
    max_w: i32,
) -> Result<String, String> {
    let width = |s: &str| -> Result<i32, String> {
        Ok(area.estimate_text_size(s, style).map_err(err_str)?.0 as i32)
    };
    if width(text)? <= max_w {
        return Ok(text.to_string());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String = chars.iter().collect::<String>() + "…";
        if width(&candidate)? <= max_w {
            return Ok(candidate);
        }
    }
    Ok("…".to_string())
}

fn text_width<DB: DrawingBackend>(
    area: &Root<DB>,
    text: &str,
    style: &TextStyle,
) -> Result<i32, String> {
    Ok(area.estimate_text_size(text, style).map_err(err_str)?.0 as i32)
}

// ---------------------------------------------------------------------------
// Common cartesian chart scaffolding
// ---------------------------------------------------------------------------

/// Chart context for the coordinate descriptions `X`, `Y`.
type Ctx<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

fn build_chart<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &'a Root<DB>,
    x: X,
    y: Y,
) -> Result<Ctx<'a, DB, X, Y>, String> {
    ChartBuilder::on(area)
        .margin_top(12)
        .margin_left(10)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(err_str)
}

/// Draws a centred caption (e.g. "no data") on a plotting area.
fn no_data<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    message: &str,
) -> Result<(), String> {
    let area = chart.plotting_area();
    let (w, h) = area.dim_in_pixel();
    let style = (FONT, 22.0)
        .into_font()
        .color(&MUTED)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let base = area.strip_coord_spec();
    base.draw(&Text::new(message, (w as i32 / 2, h as i32 / 2), style))
        .map_err(err_str)
}

/// Draws a polyline; a series whose points all share one x gets point markers instead,
/// so that it stays visible.
fn draw_line<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    pts: &[(f64, f64)],
    c: RGBColor,
) -> Result<(), String> {
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        return Ok(());
    };
    if first.0 == last.0 {
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(err_str)?;
        return Ok(());
    }
    chart
        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
        .map_err(err_str)?;
    Ok(())
}
