//! Horizontal bar charts as inline SVG: the geometry is worked out here, the markup lives in
//! the page template, so the page needs no JavaScript.

use serde::Serialize;

/// The width of the label column, in pixels.
const LABEL_WIDTH: u32 = 190;

/// The width of the longest bar.
const BAR_AREA: u32 = 420;

/// The room right of the longest bar for its value.
const VALUE_ROOM: u32 = 60;

/// The height of one bar and the gap below it.
const BAR_HEIGHT: u32 = 18;
const BAR_GAP: u32 = 6;

/// A bar chart, ready for the template: every coordinate is worked out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BarChart {
    /// Read by screen readers and shown as the SVG title.
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
}

/// One bar: its label and value, its box, and where its texts go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Where the label ends: labels are right-aligned before the bar.
    pub label_x: u32,
    /// The baseline of the label and value texts.
    pub text_y: u32,
    /// Where the value is written, right of the bar.
    pub value_x: u32,
}

impl BarChart {
    /// A chart of `values` (label and value), in the given order, the longest bar for the
    /// greatest value. A value of 0 gets no bar but keeps its row.
    #[must_use]
    pub fn new(title: &str, values: &[(String, u64)]) -> BarChart {
        let greatest = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
        let bars = values
            .iter()
            .zip(0u32..)
            .map(|((label, value), row)| {
                let y = row * (BAR_HEIGHT + BAR_GAP);
                // Rounded down, so that the greatest value is exactly BAR_AREA wide.
                let width =
                    (u128::from(*value) * u128::from(BAR_AREA) / u128::from(greatest)) as u32;
                Bar {
                    label: label.clone(),
                    value: *value,
                    x: LABEL_WIDTH,
                    y,
                    width,
                    height: BAR_HEIGHT,
                    label_x: LABEL_WIDTH - 8,
                    text_y: y + BAR_HEIGHT - 5,
                    value_x: LABEL_WIDTH + width + 6,
                }
            })
            .collect::<Vec<_>>();
        let rows = bars.len() as u32;
        BarChart {
            title: title.to_owned(),
            width: LABEL_WIDTH + BAR_AREA + VALUE_ROOM,
            height: (rows * (BAR_HEIGHT + BAR_GAP)).max(1),
            bars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_long_as_their_share_of_the_greatest_value() {
        let chart = BarChart::new(
            "Styles per body type",
            &[("SUV".into(), 40), ("Sedan".into(), 10), ("Van".into(), 0)],
        );

        let widths: Vec<u32> = chart.bars.iter().map(|b| b.width).collect();
        assert_eq!(widths, [BAR_AREA, BAR_AREA / 4, 0]);
        let ys: Vec<u32> = chart.bars.iter().map(|b| b.y).collect();
        assert_eq!(ys, [0, 24, 48]);
        assert_eq!(chart.height, 72);
        assert!(chart.bars.iter().all(|b| b.value_x + 40 <= chart.width));
    }

    #[test]
    fn an_empty_chart_has_no_bars_and_a_drawable_size() {
        let chart = BarChart::new("Nothing", &[]);

        assert!(chart.bars.is_empty());
        assert!(chart.height > 0 && chart.width > 0);
    }
}
