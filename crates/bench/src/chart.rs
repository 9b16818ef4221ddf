//! The reports' chart primitives behind one public call, for other
//! reports than the bench's (haul's job audit report): a line chart as a
//! self-contained SVG document.

use crate::svg;

/// A self-contained SVG line chart: `title` and a few `lines` of detail
/// above one panel titled `[title, x label, y label]` of `points` (x ≥ 0,
/// the x axis up to `x_max`).
#[must_use]
pub fn line_chart(
    title: &str,
    lines: &[&str],
    panel: [&str; 3],
    points: &[(f64, f64)],
    x_max: f64,
) -> String {
    let mut body = String::new();
    svg::line_panel(&mut body, 0.0, panel, points, x_max, None);
    svg::document(title, lines, 1, &body)
}

/// `s` escaped for XML and HTML text and attribute values.
#[must_use]
pub fn escape(s: &str) -> String {
    svg::esc(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_chart_is_one_svg_document() {
        let svg = super::line_chart("t <1>", &["d"], ["p", "x", "y"], &[(0.0, 1.0)], 2.0);
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert!(svg.contains("<polyline"));
    }
}
