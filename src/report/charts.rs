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

pub mod front;

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
// Public entry points
// ---------------------------------------------------------------------------

/// Latency CDF per variant, log-scaled time axis (seconds), y = fraction of messages 0..1.
///
/// Each series' points are `(latency_s, cumulative_fraction)`; they are sorted by
/// latency and joined by straight segments. Points with non-positive or non-finite
/// latency (not representable on a log axis) are skipped; fractions are clamped to 0..1.
pub fn latency_cdf<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    variants: &[Series],
) -> Result<(), String> {
    render(target.into(), &LatencyCdf { title, variants })
}

/// Time series (x = simulated time in s) of several named series (queue length, in flight,
/// waiting to retry, dead-lettered...), with fault windows shaded and labelled.
pub fn time_series<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    y_label: &str,
    series: &[Series],
    windows: &[Window],
) -> Result<(), String> {
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
) -> Result<(), String> {
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

/// Sweep curves: one line per band (variant) against the swept parameter, with a shaded
/// 95% interval band between lo and hi.
pub fn sweep_curves<'a>(
    target: impl Into<Target<'a>>,
    title: &str,
    x_label: &str,
    y_label: &str,
    bands: &[Band],
) -> Result<(), String> {
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
) -> Result<(), String> {
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
) -> Result<(), String> {
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

// ---------------------------------------------------------------------------
// Shared infrastructure
// ---------------------------------------------------------------------------

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 600;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

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
fn render<C: Chart>(target: Target<'_>, chart: &C) -> Result<(), String> {
    let path = match target {
        Target::File(path) => path,
        Target::Svg(text) => {
            ensure_font()?;
            *text.borrow_mut() = svg_text(chart)?;
            return Ok(());
        }
    };
    let fail = |msg: String| format!("chart {}: {}", path.display(), msg);
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
// Legend
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBColor),
    Bar(RGBColor),
    Band(RGBColor),
    Shade,
    Empty(RGBColor),
}

struct LegendEntry {
    name: String,
    swatch: Swatch,
}

const SWATCH_W: i32 = 26;
const LEGEND_ROW: i32 = 24;

fn legend_width<DB: DrawingBackend>(
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
fn with_legend<DB: DrawingBackend>(
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

fn draw_swatch<DB: DrawingBackend>(
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
fn draw_legend<DB: DrawingBackend>(
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

fn series_name(name: &str, i: usize) -> String {
    if name.trim().is_empty() {
        format!("series {}", i + 1)
    } else {
        name.to_string()
    }
}

// ---------------------------------------------------------------------------
// Ranges and number formatting
// ---------------------------------------------------------------------------

/// Min and max of the good values, or None.
fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| good(*v))
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A finite, non-empty range covering `lo..hi`.
fn widen(lo: f64, hi: f64) -> (f64, f64) {
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
fn value_range(ext: Option<(f64, f64)>, headroom: f64) -> (f64, f64) {
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

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Compact tick label: "0", "0.25", "12", "15k", "2.5M", "1e-5".
fn fmt_num(v: f64) -> String {
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

fn sci(v: f64) -> String {
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{}", trim_zeros(m.to_string()), e),
        None => s,
    }
}

/// Tick formatter shared by all labels of one axis, so that they use the same notation:
/// plain decimals, or one SI suffix (k, M, G, T) chosen from the axis magnitude, or
/// scientific notation for very small or very large magnitudes.
fn axis_fmt(lo: f64, hi: f64) -> Box<dyn Fn(&f64) -> String> {
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
fn fmt_pow10(v: f64) -> String {
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
fn fmt_value(v: f64) -> String {
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
fn fmt_seconds(v: f64) -> String {
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

// ---------------------------------------------------------------------------
// Latency CDF
// ---------------------------------------------------------------------------

struct LatencyCdf<'a> {
    title: &'a str,
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
            .x_desc("Latency (s, log scale)")
            .y_desc("Fraction of messages (cumulative)")
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

// ---------------------------------------------------------------------------
// Time series with fault windows
// ---------------------------------------------------------------------------

const SHADE: RGBAColor = RGBAColor(0, 0, 0, 0.07);
const SHADE_EDGE: RGBAColor = RGBAColor(0, 0, 0, 0.28);

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

// ---------------------------------------------------------------------------
// Outcome bars
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Sweep curves with confidence bands
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Heat map
// ---------------------------------------------------------------------------

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
fn viridis(t: f64) -> RGBColor {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicUsize;

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A fresh, unique directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "mqsim-charts-{}-{}-{}-{}",
            name,
            std::process::id(),
            nanos,
            n
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn check_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 33, "{} too short", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert_eq!((w, h), (1000, 600), "{}", path.display());
    }

    fn check_svg(path: &Path, title: &str) {
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.trim_start();
        assert!(
            start.starts_with("<svg") || start.starts_with("<?xml"),
            "{} does not start like an SVG",
            path.display()
        );
        assert!(text.contains(title), "{} lacks its title", path.display());
        assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
    }

    /// Renders with `f` to PNG and SVG, twice each, and checks validity and determinism.
    fn check_all(name: &str, title: &str, f: impl Fn(&Path) -> Result<(), String>) {
        let dir = temp_dir(name);
        for ext in ["png", "svg"] {
            let a = dir.join(format!("{name}_a.{ext}"));
            let b = dir.join(format!("{name}_b.{ext}"));
            f(&a).unwrap();
            f(&b).unwrap();
            if ext == "png" {
                check_png(&a);
            } else {
                check_svg(&a, title);
            }
            let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            assert!(!ba.is_empty());
            assert_eq!(ba, bb, "{name}.{ext} is not deterministic");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn sample_series(n: usize) -> Vec<Series> {
        (0..n)
            .map(|i| Series {
                name: format!("variant {i}"),
                points: (0..50)
                    .map(|j| {
                        let x = 1e-4 * 1.2f64.powi(j) * (i + 1) as f64;
                        (x, j as f64 / 49.0)
                    })
                    .collect(),
            })
            .collect()
    }

    fn sample_bands() -> Vec<Band> {
        (0..3)
            .map(|i| {
                let x: Vec<f64> = (0..8).map(|k| k as f64 * 0.1).collect();
                let mean: Vec<f64> = x.iter().map(|v| v * (i + 1) as f64).collect();
                Band {
                    name: format!("band {i}"),
                    lo: mean.iter().map(|m| m - 0.05).collect(),
                    hi: mean.iter().map(|m| m + 0.05).collect(),
                    x,
                    mean,
                }
            })
            .collect()
    }

    fn sample_grid() -> Vec<Vec<f64>> {
        (0..12)
            .map(|r| (0..9).map(|c| 0.5f64.powi(r + c)).collect())
            .collect()
    }

    #[test]
    fn latency_cdf_renders() {
        let data = sample_series(3);
        check_all("cdf", "Latency CDF test", |p| {
            latency_cdf(p, "Latency CDF test", &data)
        });
        check_all("cdf_one", "Single CDF", |p| {
            latency_cdf(p, "Single CDF", &sample_series(1))
        });
        check_all("cdf_empty", "Empty CDF", |p| {
            latency_cdf(p, "Empty CDF", &[])
        });
    }

    #[test]
    fn time_series_renders() {
        let data: Vec<Series> = (0..4)
            .map(|i| Series {
                name: format!("s{i}"),
                points: (0..100)
                    .map(|t| (t as f64, (t * (i + 1)) as f64 % 17.0))
                    .collect(),
            })
            .collect();
        let windows = vec![
            Window {
                start: 10.0,
                end: 20.0,
                label: "crash".into(),
            },
            Window {
                start: 95.0,
                end: 90.0,
                label: "partition".into(),
            },
        ];
        check_all("ts", "Time series test", |p| {
            time_series(p, "Time series test", "Messages", &data, &windows)
        });
        check_all("ts_empty", "Empty series", |p| {
            time_series(p, "Empty series", "Messages", &[], &[])
        });
        check_all("ts_windows_only", "Windows only", |p| {
            time_series(p, "Windows only", "Messages", &[], &windows)
        });
    }

    #[test]
    fn outcome_bars_renders() {
        let variants: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let cats: Vec<String> = vec!["acked".into(), "duplicated".into(), "lost".into()];
        let values = vec![
            vec![900.0, 50.0, 50.0],
            vec![1000.0, 0.0, 0.0],
            vec![0.5, 0.25],
        ];
        check_all("bars", "Outcome test", |p| {
            outcome_bars(p, "Outcome test", "Messages", &variants, &cats, &values)
        });
        check_all("bars_empty", "Empty bars", |p| {
            outcome_bars(p, "Empty bars", "Messages", &[], &[], &[])
        });
        // Mismatched shapes: more value rows than variants, longer rows than categories.
        let ragged = vec![vec![1.0, 2.0, 3.0, 4.0], vec![], vec![f64::NAN, -2.0]];
        check_all("bars_ragged", "Ragged bars", |p| {
            outcome_bars(p, "Ragged bars", "Fraction", &variants[..1], &cats, &ragged)
        });
    }

    #[test]
    fn sweep_curves_renders() {
        let bands = sample_bands();
        check_all("sweep", "Sweep test", |p| {
            sweep_curves(p, "Sweep test", "Load (msg/s)", "p99 latency (s)", &bands)
        });
        check_all("sweep_empty", "Empty sweep", |p| {
            sweep_curves(p, "Empty sweep", "x (s)", "y (s)", &[])
        });
    }

    #[test]
    fn heatmap_renders() {
        let grid = sample_grid();
        check_all("heat_log", "Heat log", |p| {
            heatmap(p, "Heat log", "orbit o", "queue q", &grid, true)
        });
        check_all("heat_lin", "Heat linear", |p| {
            heatmap(p, "Heat linear", "orbit o", "queue q", &grid, false)
        });
        check_all("heat_empty", "Empty heat", |p| {
            heatmap(p, "Empty heat", "orbit o", "queue q", &[], true)
        });
        check_all("heat_zero_rows", "Zero rows", |p| {
            heatmap(p, "Zero rows", "o", "q", &[vec![], vec![]], false)
        });
    }

    #[test]
    fn degenerate_data_does_not_panic() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let bad = vec![
            Series {
                name: String::new(),
                points: vec![(nan, 0.5), (inf, 1.0), (-1.0, 0.2), (0.0, 0.1), (1e-3, nan)],
            },
            Series {
                name: "single".into(),
                points: vec![(0.01, 0.5)],
            },
            Series {
                name: "flat".into(),
                points: vec![(5.0, 3.0), (5.0, 3.0)],
            },
        ];
        let windows = vec![
            Window {
                start: nan,
                end: 1.0,
                label: String::new(),
            },
            Window {
                start: 5.0,
                end: 5.0,
                label: "instant".into(),
            },
        ];
        let bands = vec![
            Band {
                name: "short".into(),
                x: vec![1.0, 2.0, 3.0],
                mean: vec![1.0, nan],
                lo: vec![],
                hi: vec![2.0],
            },
            Band {
                name: "flat".into(),
                x: vec![2.0, 2.0],
                mean: vec![0.0, 0.0],
                lo: vec![0.0, 0.0],
                hi: vec![0.0, inf],
            },
        ];
        let grids = [
            vec![vec![0.0; 4]; 3],
            vec![vec![nan, inf], vec![-1.0]],
            vec![vec![7.0]],
            vec![vec![-3.0, 0.0, 2.0], vec![1e-300, 1e300, 5.0]],
        ];
        for ext in ["png", "svg"] {
            let dir = temp_dir("degenerate");
            let p = |n: &str| dir.join(format!("{n}.{ext}"));
            latency_cdf(&p("cdf"), "bad cdf", &bad).unwrap();
            time_series(&p("ts"), "bad ts", "y (msgs)", &bad, &windows).unwrap();
            sweep_curves(&p("sweep"), "bad sweep", "x", "y", &bands).unwrap();
            outcome_bars(
                &p("bars"),
                "zero bars",
                "n",
                &["v".to_string()],
                &["k".to_string()],
                &[vec![0.0]],
            )
            .unwrap();
            for (i, g) in grids.iter().enumerate() {
                for log in [false, true] {
                    heatmap(&p(&format!("heat{i}{log}")), "bad heat", "x", "y", g, log).unwrap();
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn unsupported_extension_is_an_error_naming_the_path() {
        let dir = temp_dir("ext");
        for name in ["chart.jpg", "chart", "chart.svg.txt"] {
            let path = dir.join(name);
            let err = latency_cdf(&path, "t", &[]).unwrap_err();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(!path.exists());
        }
        // Upper-case extensions are accepted.
        let path = dir.join("chart.PNG");
        latency_cdf(&path, "t", &[]).unwrap();
        check_png(&path);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_path_is_an_error_naming_the_path() {
        let dir = temp_dir("unwritable");
        let file = dir.join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        // A path "below" a regular file cannot be created.
        let path = file.join("chart.png");
        let err = heatmap(&path, "t", "x", "y", &sample_grid(), true).unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.30000000000000004), "0.3");
        assert_eq!(fmt_num(12500.0), "12.5k");
        assert_eq!(fmt_num(2.5e-5), "2.5e-5");
        assert_eq!(fmt_seconds(1e-3), "1 ms");
        assert_eq!(fmt_seconds(1e-5), "10 µs");
        assert_eq!(fmt_seconds(100.0), "100 s");
        assert_eq!(fmt_pow10(1e-3), "10⁻³");
        assert_eq!(fmt_pow10(100.0), "10²");
        assert_eq!(fmt_value(9512.0), "9512");
        assert_eq!(fmt_value(0.12345), "0.123");
        let f = axis_fmt(0.0, 12000.0);
        assert_eq!(f(&8000.0), "8k");
        assert_eq!(f(&0.0), "0");
        let f = axis_fmt(0.0, 1.0);
        assert_eq!(f(&0.25), "0.25");
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(color(0), color(PALETTE.len()));
    }
}
