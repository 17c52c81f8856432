//! What the generator is asked to make: how many makes, models, model years and styles.

use std::ops::RangeInclusive;

/// The shape of a generated catalog. Equal configs generate byte-identical catalogs and
/// responses, on every platform.
///
/// Each count is drawn uniformly from its range. A range written backwards counts as its start,
/// and counts are clamped to what the generator can honour: at least one model year per model
/// and one style per model year, no more model years than `first_year..=last_year` holds, and
/// at most [`MAX_STYLES_PER_YEAR`](crate::MAX_STYLES_PER_YEAR) styles per model year. Years
/// given backwards are swapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seeds every random choice of the catalog.
    pub seed: u64,
    /// How many makes the catalog has.
    pub makes: usize,
    /// How many models each make has.
    pub models_per_make: RangeInclusive<usize>,
    /// How many model years each model has; they are consecutive years.
    pub years_per_model: RangeInclusive<usize>,
    /// How many styles each model year has.
    pub styles_per_year: RangeInclusive<usize>,
    /// The earliest model year any model may have.
    pub first_year: u16,
    /// The latest model year any model may have.
    pub last_year: u16,
}

impl Default for GeneratorConfig {
    /// A small demo catalog: 8 makes of 2 to 6 models, each with 1 to 8 model years between
    /// 2008 and 2017 of 1 to 6 styles, from a fixed seed.
    fn default() -> Self {
        GeneratorConfig {
            seed: 2017,
            makes: 8,
            models_per_make: 2..=6,
            years_per_model: 1..=8,
            styles_per_year: 1..=6,
            first_year: 2008,
            last_year: 2017,
        }
    }
}

impl GeneratorConfig {
    /// The years models may have, lowest first.
    pub(crate) fn year_span(&self) -> RangeInclusive<u16> {
        self.first_year.min(self.last_year)..=self.first_year.max(self.last_year)
    }
}

/// `range` made non-empty and clamped into `min..=max` (with `min <= max`); a backwards range
/// counts as its start.
pub(crate) fn bounded(
    range: &RangeInclusive<usize>,
    min: usize,
    max: usize,
) -> RangeInclusive<usize> {
    let low = (*range.start()).clamp(min, max);
    let high = (*range.end()).clamp(low, max);
    low..=high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_clamps_and_repairs_ranges() {
        assert_eq!(bounded(&(2..=6), 1, 40), 2..=6);
        assert_eq!(bounded(&(0..=100), 1, 40), 1..=40);
        assert_eq!(bounded(&RangeInclusive::new(5, 2), 1, 40), 5..=5);
        assert_eq!(bounded(&(50..=60), 1, 40), 40..=40);
    }

    #[test]
    fn backwards_years_are_swapped() {
        let config = GeneratorConfig {
            first_year: 2017,
            last_year: 2010,
            ..Default::default()
        };
        assert_eq!(config.year_span(), 2010..=2017);
    }
}
