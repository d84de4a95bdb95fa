//! Charts as inline SVG, drawn on the server: nothing to load, readable without scripts. Each is an image with a
//! title and a description for screen readers, each point carries its value as a tooltip, and the page prints
//! the same figures in a table beside it.

use crate::format::{count, escape, percent};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// What a chart shows: one label per point, a value or a gap.
pub struct Series<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub labels: &'a [String],
}

impl Series<'_> {
    fn x(&self, i: usize) -> f64 {
        let n = self.labels.len().max(1) as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * (i as f64 + 0.5) / n
    }

    fn frame(&self, description: &str, grid: &[(f64, String)], marks: &str) -> String {
        let mut svg = format!(
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" \
             id=\"{id}\"><title id=\"{id}-t\">{title}</title><desc id=\"{id}-d\">{description}</desc>",
            id = self.id,
            title = escape(self.title),
            description = escape(description),
        );
        for (y, label) in grid {
            svg += &format!(
                "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
                 <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        for (i, label) in self.labels.iter().enumerate() {
            svg += &format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                self.x(i),
                HEIGHT - 8.0,
                escape(label)
            );
        }
        svg + marks + "</svg>"
    }

    /// Ratios (0 to 1) as a line, with a gap where there is no value.
    pub fn line_of_ratios(&self, values: &[Option<f64>]) -> String {
        let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v.clamp(0.0, 1.0));
        let grid: Vec<(f64, String)> =
            [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|v| (y(*v), format!("{} %", (v * 100.0).round()))).collect();
        let (mut path, mut dots, mut pen_down) = (String::new(), String::new(), false);
        for (i, value) in values.iter().enumerate() {
            match value {
                Some(v) => {
                    path += &format!("{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, self.x(i), y(*v));
                    dots += &format!(
                        "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {}</title></circle>",
                        self.x(i),
                        y(*v),
                        escape(&self.labels[i]),
                        percent(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let shown: Vec<f64> = values.iter().flatten().copied().collect();
        let description = match (shown.iter().cloned().reduce(f64::min), shown.iter().cloned().reduce(f64::max)) {
            (Some(low), Some(high)) => {
                format!("{} tháng có số liệu, thấp nhất {}, cao nhất {}", shown.len(), percent(low), percent(high))
            }
            _ => "Chưa có số liệu".to_owned(),
        };
        self.frame(&description, &grid, &format!("<path class=\"line\" d=\"{}\"/>{dots}", path.trim_end()))
    }

    /// Counts as bars.
    pub fn bars_of_counts(&self, values: &[u64]) -> String {
        let top = values.iter().copied().max().unwrap_or(0).max(4);
        let y = |v: u64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v as f64 / top as f64);
        let grid: Vec<(f64, String)> = (0..=4).map(|k| top * k / 4).map(|v| (y(v), count(v))).collect();
        let width = ((WIDTH - LEFT - RIGHT) / values.len().max(1) as f64 * 0.6).max(2.0);
        let bars: String = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect>",
                    self.x(i) - width / 2.0,
                    y(*v),
                    y(0) - y(*v),
                    escape(&self.labels[i]),
                    count(*v)
                )
            })
            .collect();
        let description = format!("Tổng {} trong {} tháng", count(values.iter().sum()), values.len());
        self.frame(&description, &grid, &bars)
    }
}
