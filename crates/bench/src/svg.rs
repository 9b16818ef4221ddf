//! Chart primitives for the reports: panels with axes, ticks, labels and
//! units, drawn as plain SVG (system fonts, no external resources).

use std::fmt::Write as _;

use crate::stats::nice_ceil;

/// Width of every chart.
pub(crate) const WIDTH: f64 = 960.0;
/// Height of one panel (title, plot and axis labels).
pub(crate) const PANEL_H: f64 = 320.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 36.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 56.0;
const LINE: &str = "#1f6fb2";
const BAR: &str = "#4c9f70";
const MARK: &str = "#c0392b";
const GRID: &str = "#e3e3e3";
const INK: &str = "#222";

/// Escapes text for XML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A linear axis from 0: a round step and the top (a whole number of steps).
fn axis(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let step = nice_ceil(max / 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    (top, step)
}

/// A tick value with as many decimals as the step needs.
fn tick(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|&d| {
            let s = step * 10f64.powi(d);
            (s - s.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

/// The plot area of a panel whose top edge is at `y0`.
#[derive(Debug, Clone, Copy)]
struct Plot {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Plot {
    fn at(y0: f64) -> Self {
        Self {
            x: LEFT,
            y: y0 + TOP,
            w: WIDTH - LEFT - RIGHT,
            h: PANEL_H - TOP - BOTTOM,
        }
    }

    fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Title, frame, gridlines, y ticks and both axis labels of a panel.
fn frame(
    out: &mut String,
    p: Plot,
    title: &str,
    x_label: &str,
    y_label: &str,
    y_top: f64,
    y_step: f64,
) {
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="15" font-weight="bold" fill="{INK}">{}</text>"#,
        p.x,
        p.y - 18.0,
        esc(title)
    );
    let mut v = 0.0;
    while v <= y_top + y_step * 1e-9 {
        let y = p.bottom() - v / y_top * p.h;
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{INK}">{}</text>"#,
            p.x,
            p.x + p.w,
            p.x - 6.0,
            y + 4.0,
            tick(v, y_step)
        );
        v += y_step;
    }
    let _ = write!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{INK}" stroke-width="1"/>"#,
        p.x, p.y, p.w, p.h
    );
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{INK}">{}</text>"#,
        p.x + p.w / 2.0,
        p.bottom() + 40.0,
        esc(x_label)
    );
    let (lx, ly) = (p.x - 60.0, p.y + p.h / 2.0);
    let _ = write!(
        out,
        r#"<text x="{lx:.1}" y="{ly:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})" fill="{INK}">{}</text>"#,
        esc(y_label)
    );
}

/// A numeric x tick with its label below the axis.
fn x_tick(out: &mut String, p: Plot, x: f64, label: &str) {
    let _ = write!(
        out,
        r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{INK}"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{INK}">{}</text>"#,
        p.bottom(),
        p.bottom() + 5.0,
        p.bottom() + 18.0,
        esc(label)
    );
}

/// A line chart of `points` (x ≥ 0) with an optional dashed horizontal
/// reference line (`mean`, labelled).
pub(crate) fn line_panel(
    out: &mut String,
    y0: f64,
    titles: [&str; 3],
    points: &[(f64, f64)],
    x_max: f64,
    mean: Option<(f64, &str)>,
) {
    let p = Plot::at(y0);
    let y_max = points
        .iter()
        .map(|q| q.1)
        .fold(mean.map_or(0.0, |m| m.0), f64::max);
    let (y_top, y_step) = axis(y_max * 1.05);
    let (x_top, x_step) = axis(x_max);
    frame(out, p, titles[0], titles[1], titles[2], y_top, y_step);
    let sx = |x: f64| p.x + x / x_top * p.w;
    let sy = |y: f64| p.bottom() - y / y_top * p.h;
    let mut v = 0.0;
    while v <= x_top + x_step * 1e-9 {
        x_tick(out, p, sx(v), &tick(v, x_step));
        v += x_step;
    }
    if let Some((m, label)) = mean {
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{MARK}" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{MARK}">{}</text>"#,
            p.x,
            p.x + p.w,
            p.x + p.w - 4.0,
            sy(m) - 5.0,
            esc(label),
            y = sy(m)
        );
    }
    if points.is_empty() {
        return;
    }
    let coords: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect();
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="2"/>"#,
        coords.join(" ")
    );
    for &(x, y) in points {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{LINE}"/>"#,
            sx(x),
            sy(y)
        );
    }
}

/// A histogram: `counts[i]` requests in `[i·bin, (i+1)·bin)`, `overflow`
/// past the last bin (drawn as a labelled bar), and labelled vertical
/// markers (percentiles) at x positions in the bins' unit (`unit`, e.g. " ms").
#[allow(clippy::too_many_arguments)] // one panel's data, drawn once
pub(crate) fn histogram_panel(
    out: &mut String,
    y0: f64,
    titles: [&str; 3],
    unit: &str,
    bin: f64,
    counts: &[u64],
    overflow: u64,
    markers: &[(&str, f64)],
) {
    let p = Plot::at(y0);
    let slots = counts.len() + usize::from(overflow > 0);
    let y_max = counts.iter().copied().chain([overflow]).max().unwrap_or(0) as f64;
    let (y_top, y_step) = axis(y_max * 1.05);
    frame(out, p, titles[0], titles[1], titles[2], y_top, y_step);
    if slots == 0 {
        return;
    }
    let slot_w = p.w / slots as f64;
    let x_top = bin * counts.len() as f64;
    let sx = |x: f64| p.x + x / bin * slot_w;
    let (_, x_step) = axis(x_top);
    let mut v = 0.0;
    while v <= x_top + x_step * 1e-9 {
        x_tick(out, p, sx(v), &tick(v, x_step));
        v += x_step;
    }
    let bar = |out: &mut String, i: usize, n: u64, fill: &str| {
        let h = n as f64 / y_top * p.h;
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{fill}"><title>{n}</title></rect>"#,
            p.x + i as f64 * slot_w + 0.5,
            p.bottom() - h,
            (slot_w - 1.0).max(0.5)
        );
    };
    for (i, &n) in counts.iter().enumerate() {
        bar(out, i, n, BAR);
    }
    if overflow > 0 {
        bar(out, counts.len(), overflow, MARK);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{MARK}">last bar: {} at or past {}{}</text>"#,
            p.x + p.w,
            p.y - 6.0,
            overflow,
            tick(x_top, x_step / 10.0),
            esc(unit)
        );
    }
    for (i, &(label, x)) in markers.iter().enumerate() {
        let x = sx(x.min(x_top + bin));
        // Labels near the right edge go on the line's left.
        let (tx, anchor) = if x > p.x + p.w * 0.75 {
            (x - 3.0, "end")
        } else {
            (x + 3.0, "start")
        };
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{MARK}" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{:.1}" font-size="11" text-anchor="{anchor}" fill="{MARK}">{}</text>"#,
            p.y,
            p.bottom(),
            p.y + 14.0 + 13.0 * i as f64,
            esc(label)
        );
    }
}

/// Values at evenly spaced categories (concurrency 1, 2, 4, …), joined by a
/// line and labelled with their value.
pub(crate) fn category_panel(
    out: &mut String,
    y0: f64,
    titles: [&str; 3],
    labels: &[String],
    values: &[f64],
) {
    let p = Plot::at(y0);
    let y_max = values.iter().copied().fold(0.0, f64::max);
    let (y_top, y_step) = axis(y_max * 1.1);
    frame(out, p, titles[0], titles[1], titles[2], y_top, y_step);
    let n = labels.len().min(values.len());
    if n == 0 {
        return;
    }
    let slot = p.w / n as f64;
    let sx = |i: usize| p.x + slot * (i as f64 + 0.5);
    let sy = |y: f64| p.bottom() - y / y_top * p.h;
    let coords: Vec<String> = (0..n)
        .map(|i| format!("{:.1},{:.1}", sx(i), sy(values[i])))
        .collect();
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="2"/>"#,
        coords.join(" ")
    );
    for i in 0..n {
        x_tick(out, p, sx(i), &labels[i]);
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{LINE}"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{INK}">{:.1}</text>"#,
            sx(i),
            sy(values[i]),
            sx(i),
            sy(values[i]) - 9.0,
            values[i]
        );
    }
}

/// `s` cut to at most `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A complete SVG document: a title and a few lines of detail above
/// `panels` panels (long lines are cut to the width).
pub(crate) fn document(title: &str, lines: &[&str], panels: usize, body: &str) -> String {
    let head = 44.0 + 18.0 * lines.len() as f64;
    let height = head + PANEL_H * panels as f64;
    let mut text = format!(
        r#"<text x="{LEFT:.0}" y="28" font-size="18" font-weight="bold" fill="{INK}">{}</text>"#,
        esc(&clip(title, 80))
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            text,
            r##"<text x="{LEFT:.0}" y="{:.0}" font-size="12" fill="#555">{}</text>"##,
            48.0 + 18.0 * i as f64,
            esc(&clip(line, 130))
        );
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{height:.0}" viewBox="0 0 {WIDTH:.0} {height:.0}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"><rect width="100%" height="100%" fill="#fff"/>{text}<g transform="translate(0 {head:.0})">{body}</g></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_axes() {
        assert_eq!(axis(9.0), (10.0, 2.0));
        assert_eq!(axis(0.0), (1.0, 0.2));
        assert_eq!(tick(2.0, 0.5), "2.0");
        assert_eq!(tick(0.25, 0.25), "0.25");
        assert_eq!(tick(40.0, 20.0), "40");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
