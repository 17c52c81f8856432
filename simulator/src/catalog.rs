//! The generated catalog as data: makes, their models, model years and styles.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{GeneratorConfig, bounded};
use crate::names::{self, nice_name};
use crate::styles::{YearKey, generate_styles};

/// The first make id; make ids then grow by random gaps, sparse like the API's.
const FIRST_MAKE_ID: i64 = 200_000_001;
const MAX_MAKE_ID_GAP: i64 = 50_000;

/// The first model-year id. Style ids are model-year ids times
/// [`STYLE_ID_SLOTS`](crate::STYLE_ID_SLOTS), so they start near 100,400,000, where the API's
/// newer style ids are.
const FIRST_MODEL_YEAR_ID: i64 = 1_004_001;
const MAX_MODEL_YEAR_ID_GAP: i64 = 40;

/// A whole generated catalog: every make with its models, model years and styles.
///
/// ```
/// use carlambda_simulator::{Catalog, GeneratorConfig};
///
/// let catalog = Catalog::generate(&GeneratorConfig::default());
///
/// assert_eq!(catalog.makes.len(), 8);
/// assert_eq!(catalog, Catalog::generate(&GeneratorConfig::default()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The makes, in the order the catalog response lists them.
    pub makes: Vec<Make>,
}

/// A make and its models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Make {
    /// Unique among the catalog's makes.
    pub id: i64,
    /// Like `Halden Motors`.
    pub name: String,
    /// Like `halden-motors`; the make's segment of request paths.
    pub nice_name: String,
    /// The make's models.
    pub models: Vec<Model>,
}

/// A model and its model years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The make's name and the model's, spaces as underscores: `Corvane_Arlo_GT`.
    pub id: String,
    /// Like `Arlo GT`.
    pub name: String,
    /// Like `arlo-gt`; the model's segment of request paths.
    pub nice_name: String,
    /// The model years, earliest first.
    pub years: Vec<ModelYear>,
}

/// One year of a model and the styles it was sold in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelYear {
    /// Unique among the catalog's model years.
    pub id: i64,
    /// Like 2016.
    pub year: u16,
    /// The styles, with names distinct within the model year.
    pub styles: Vec<Style>,
}

/// One style of a model year: a trim with a body, drive and powertrain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// Unique among the catalog's styles.
    pub id: i64,
    /// Like `Sport 4dr Sedan AWD (2.0L 4cyl 6A)`.
    pub name: String,
    /// Like `Sport`; the name starts with it unless it is `Base`.
    pub trim: String,
    /// The body the style belongs to.
    pub submodel: Submodel,
}

/// The body of a style, as the API groups styles into submodels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submodel {
    /// Like `Sedan` or `SUV`.
    pub body: String,
    /// The model's name and the body: `Arlo GT Sedan`.
    pub model_name: String,
    /// The body in lowercase: `sedan`.
    pub nice_name: String,
}

impl Catalog {
    /// The catalog `config` describes; equal configs give equal catalogs.
    pub fn generate(config: &GeneratorConfig) -> Catalog {
        let mut generator = Generator::new(config);
        let make_names = names::make_names(&mut generator.rng, config.makes);
        let makes = make_names
            .into_iter()
            .map(|name| generator.make(name))
            .collect();
        Catalog { makes }
    }

    /// The make with this nice name.
    pub fn make(&self, nice_name: &str) -> Option<&Make> {
        self.makes.iter().find(|make| make.nice_name == nice_name)
    }
}

impl Make {
    /// The model with this nice name.
    pub fn model(&self, nice_name: &str) -> Option<&Model> {
        self.models
            .iter()
            .find(|model| model.nice_name == nice_name)
    }
}

impl Model {
    /// The model year of this year.
    pub fn year(&self, year: u16) -> Option<&ModelYear> {
        self.years.iter().find(|model_year| model_year.year == year)
    }

    /// The latest model year; `None` only for a model without years, which the generator
    /// never makes.
    pub fn latest_year(&self) -> Option<&ModelYear> {
        self.years.iter().max_by_key(|model_year| model_year.year)
    }
}

/// The state of one generation: a single random stream for the catalog's shape, and the id
/// sequences. Styles are seeded apart (see [`generate_styles`]), so the shape does not depend
/// on how many styles were drawn.
struct Generator<'a> {
    config: &'a GeneratorConfig,
    rng: ChaCha8Rng,
    next_make_id: i64,
    next_model_year_id: i64,
}

impl<'a> Generator<'a> {
    fn new(config: &'a GeneratorConfig) -> Self {
        Generator {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            next_make_id: FIRST_MAKE_ID,
            next_model_year_id: FIRST_MODEL_YEAR_ID,
        }
    }

    fn make(&mut self, name: String) -> Make {
        let id = self.next_make_id;
        self.next_make_id += self.rng.random_range(1..=MAX_MAKE_ID_GAP);

        let count = self
            .rng
            .random_range(bounded(&self.config.models_per_make, 0, usize::MAX));
        let models = names::model_names(&mut self.rng, count)
            .into_iter()
            .map(|model_name| self.model(&name, model_name))
            .collect();

        Make {
            id,
            nice_name: nice_name(&name),
            name,
            models,
        }
    }

    fn model(&mut self, make_name: &str, name: String) -> Model {
        let id = names::model_id(make_name, &name);
        let span = self.config.year_span();
        let span_len = usize::from(span.end() - span.start()) + 1;

        let count = self
            .rng
            .random_range(bounded(&self.config.years_per_model, 1, span_len));
        let last_start = span.end() - u16::try_from(count - 1).expect("count fits the span");
        let first_year = self.rng.random_range(*span.start()..=last_start);
        let years = (first_year..)
            .take(count)
            .map(|year| self.model_year(&id, &name, year))
            .collect();

        Model {
            nice_name: nice_name(&name),
            id,
            name,
            years,
        }
    }

    fn model_year(&mut self, model_id: &str, model_name: &str, year: u16) -> ModelYear {
        let id = self.next_model_year_id;
        self.next_model_year_id += self.rng.random_range(1..=MAX_MODEL_YEAR_ID_GAP);

        let key = YearKey {
            model_id,
            model_name,
            year_id: id,
            year,
        };
        let styles = generate_styles(&key, self.config.styles_per_year.clone(), self.config.seed);

        ModelYear { id, year, styles }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::ops::RangeInclusive;

    use super::*;
    use crate::MAX_STYLES_PER_YEAR;

    fn larger_config() -> GeneratorConfig {
        GeneratorConfig {
            seed: 42,
            makes: 40,
            models_per_make: 1..=12,
            years_per_model: 2..=10,
            styles_per_year: 3..=12,
            first_year: 2005,
            last_year: 2017,
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let config = larger_config();
        assert_eq!(Catalog::generate(&config), Catalog::generate(&config));
        assert_ne!(
            Catalog::generate(&config),
            Catalog::generate(&GeneratorConfig { seed: 43, ..config })
        );
    }

    #[test]
    fn ids_are_unique() {
        let catalog = Catalog::generate(&larger_config());
        let models: Vec<&Model> = catalog.makes.iter().flat_map(|make| &make.models).collect();
        let years: Vec<&ModelYear> = models.iter().flat_map(|model| &model.years).collect();
        let styles: Vec<&Style> = years.iter().flat_map(|year| &year.styles).collect();

        let make_ids: BTreeSet<i64> = catalog.makes.iter().map(|make| make.id).collect();
        let model_ids: BTreeSet<&str> = models.iter().map(|model| model.id.as_str()).collect();
        let year_ids: BTreeSet<i64> = years.iter().map(|year| year.id).collect();
        let style_ids: BTreeSet<i64> = styles.iter().map(|style| style.id).collect();

        assert_eq!(make_ids.len(), catalog.makes.len());
        assert_eq!(model_ids.len(), models.len());
        assert_eq!(year_ids.len(), years.len());
        assert_eq!(style_ids.len(), styles.len());
        assert!(
            make_ids
                .iter()
                .all(|id| (200_000_000..500_000_000).contains(id))
        );
        assert!(
            style_ids
                .iter()
                .all(|id| (100_000_000..500_000_000).contains(id))
        );
    }

    #[test]
    fn counts_and_years_stay_in_their_ranges() {
        let config = larger_config();
        let catalog = Catalog::generate(&config);

        assert_eq!(catalog.makes.len(), config.makes);
        for make in &catalog.makes {
            assert!(
                config.models_per_make.contains(&make.models.len()),
                "{}",
                make.name
            );
            for model in &make.models {
                assert!(
                    config.years_per_model.contains(&model.years.len()),
                    "{}",
                    model.id
                );
                let years: Vec<u16> = model.years.iter().map(|year| year.year).collect();
                assert!(
                    years.windows(2).all(|pair| pair[1] == pair[0] + 1),
                    "{years:?}"
                );
                assert!(years.iter().all(|year| config.year_span().contains(year)));
                for year in &model.years {
                    assert!(config.styles_per_year.contains(&year.styles.len()));
                }
            }
        }
    }

    #[test]
    fn names_follow_the_api_conventions() {
        let catalog = Catalog::generate(&larger_config());
        let is_nice = |name: &str| {
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };

        for make in &catalog.makes {
            assert!(is_nice(&make.nice_name), "{}", make.nice_name);
            for model in &make.models {
                assert!(is_nice(&model.nice_name), "{}", model.nice_name);
                assert_eq!(
                    model.id,
                    format!("{}_{}", make.name, model.name).replace(' ', "_")
                );
            }
        }
    }

    #[test]
    fn lookups_find_by_nice_name_and_year() {
        let catalog = Catalog::generate(&GeneratorConfig::default());
        let make = &catalog.makes[3];
        let model = &make.models[0];
        let latest = model.latest_year().expect("generated models have years");

        assert_eq!(catalog.make(&make.nice_name), Some(make));
        assert_eq!(make.model(&model.nice_name), Some(model));
        assert_eq!(model.year(latest.year), Some(latest));
        assert_eq!(latest, model.years.last().expect("years are not empty"));
        assert_eq!(catalog.make("no-such-make"), None);
    }

    #[test]
    fn oversized_and_backwards_ranges_are_clamped() {
        let config = GeneratorConfig {
            makes: 2,
            models_per_make: RangeInclusive::new(3, 1),
            years_per_model: 20..=30,
            styles_per_year: 100..=200,
            first_year: 2017,
            last_year: 2015,
            ..GeneratorConfig::default()
        };
        let catalog = Catalog::generate(&config);

        for model in catalog.makes.iter().flat_map(|make| &make.models) {
            assert_eq!(model.years.len(), 3);
            assert!(
                model
                    .years
                    .iter()
                    .all(|year| year.styles.len() == MAX_STYLES_PER_YEAR)
            );
        }
        assert!(catalog.makes.iter().all(|make| make.models.len() == 3));
    }
}
