//! The styles of one model year: trims, bodies, drivetrains and engines, named the way the API
//! names them ("Sport 4dr Sedan AWD (2.0L 4cyl 6A)").

use std::ops::RangeInclusive;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom, index};

use crate::catalog::{Style, Submodel};
use crate::config::bounded;
use crate::seed;

/// The most styles one model year can have; larger requests are clamped to it.
pub const MAX_STYLES_PER_YEAR: usize = 40;

/// How many style ids each model year owns: the styles of the model year with id `y` take ids
/// from `y * STYLE_ID_SLOTS + 1` on, and styles added by later polls take the next free ones.
/// So model years with distinct ids never share a style id.
pub const STYLE_ID_SLOTS: i64 = 100;

/// Trim levels of a model year's styles; every model year has `Base`.
const TRIMS: [&str; 12] = [
    "Base",
    "Sport",
    "Touring",
    "Limited",
    "Premium",
    "SE",
    "LE",
    "Platinum",
    "Luxury",
    "Signature",
    "Premium Plus",
    "Performance",
];

/// Engines, smallest first; a body draws from its own slice of them.
const ENGINES: [&str; 10] = [
    "1.4L 4cyl",
    "1.6L 4cyl",
    "1.8L 4cyl",
    "2.0L 4cyl",
    "2.5L 4cyl",
    "3.0L 6cyl",
    "3.5L 6cyl",
    "3.6L 6cyl",
    "5.0L 8cyl",
    "6.2L 8cyl",
];

/// Which model year [`generate_styles`] makes styles for: enough of the model and the year to
/// name and number them. It works as well for the recorded catalog's models as for generated
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearKey<'a> {
    /// The model's id, like `Corvane_Arlo_GT`; it decides the model's bodies.
    pub model_id: &'a str,
    /// The model's name, like `Arlo GT`; it starts each submodel's name.
    pub model_name: &'a str,
    /// The model year's id; its styles' ids are drawn from it (see [`STYLE_ID_SLOTS`]).
    pub year_id: i64,
    /// The model year, like 2016.
    pub year: u16,
}

/// The styles of one model year, deterministic for `(key, count, seed)`.
///
/// Their number is drawn from `count` (clamped to `1..=MAX_STYLES_PER_YEAR`). Their names are
/// distinct, their ids are consecutive from `key.year_id * STYLE_ID_SLOTS + 1`, and every model
/// year of one model id (for one seed) shares that model's bodies. Model year ids must stay
/// below `i64::MAX / STYLE_ID_SLOTS`.
///
/// ```
/// use carlambda_simulator::{YearKey, generate_styles};
///
/// let key = YearKey {
///     model_id: "Corvane_Arlo_GT",
///     model_name: "Arlo GT",
///     year_id: 1_004_210,
///     year: 2016,
/// };
/// let styles = generate_styles(&key, 2..=4, 7);
///
/// assert!((2..=4).contains(&styles.len()));
/// assert_eq!(styles[0].id, 100_421_001);
/// assert!(styles[0].submodel.model_name.starts_with("Arlo GT "));
/// ```
pub fn generate_styles(key: &YearKey<'_>, count: RangeInclusive<usize>, seed: u64) -> Vec<Style> {
    let model_seed = seed::combine(&[seed, seed::hash_str(key.model_id)]);
    let bodies = Body::draw_for_model(&mut seed::rng(&[model_seed]));

    let mut rng = seed::rng(&[model_seed, key.year_id as u64, u64::from(key.year)]);
    let count = rng.random_range(bounded(&count, 1, MAX_STYLES_PER_YEAR));
    let variants = Variants::draw(&mut rng, &bodies, key.year, count);

    let mut picked = index::sample(&mut rng, variants.len(), count.min(variants.len())).into_vec();
    picked.sort_unstable();

    let first_id = key.year_id * STYLE_ID_SLOTS + 1;
    picked
        .into_iter()
        .zip(first_id..)
        .map(|(variant, id)| variants.style(variant, id, key.model_name))
        .collect()
}

/// A style's name from its trim and the rest of its name (doors, body, drive, powertrain), as
/// the API writes it: "Sport 4dr Sedan AWD (2.0L 4cyl 6A)", with no trim for `Base`.
pub(crate) fn style_name(trim: &str, body_part: &str) -> String {
    if trim == "Base" {
        body_part.to_string()
    } else {
        format!("{trim} {body_part}")
    }
}

/// A body of the API's submodels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Sedan,
    Suv,
    Coupe,
    Convertible,
    Wagon,
    Hatchback,
    Pickup,
    Minivan,
    Van,
}

impl Body {
    /// How often each body is a model's main one; sedans and SUVs dominate, as in the market.
    const WEIGHTS: [(Body, u32); 9] = [
        (Body::Sedan, 5),
        (Body::Suv, 5),
        (Body::Hatchback, 2),
        (Body::Coupe, 2),
        (Body::Pickup, 2),
        (Body::Wagon, 1),
        (Body::Convertible, 1),
        (Body::Minivan, 1),
        (Body::Van, 1),
    ];

    /// A model's bodies: its main one, and sometimes a companion (a sedan's coupe).
    fn draw_for_model(rng: &mut impl Rng) -> Vec<Body> {
        let (main, _) = *Self::WEIGHTS
            .choose_weighted(rng, |(_, weight)| *weight)
            .expect("weights are positive");

        match main.companion() {
            Some(companion) if rng.random_bool(0.25) => vec![main, companion],
            _ => vec![main],
        }
    }

    fn companion(self) -> Option<Body> {
        match self {
            Body::Sedan => Some(Body::Coupe),
            Body::Wagon | Body::Hatchback => Some(Body::Sedan),
            Body::Coupe => Some(Body::Convertible),
            Body::Convertible => Some(Body::Coupe),
            Body::Suv | Body::Pickup | Body::Minivan | Body::Van => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Body::Sedan => "Sedan",
            Body::Suv => "SUV",
            Body::Coupe => "Coupe",
            Body::Convertible => "Convertible",
            Body::Wagon => "Wagon",
            Body::Hatchback => "Hatchback",
            Body::Pickup => "Pickup",
            Body::Minivan => "Minivan",
            Body::Van => "Van",
        }
    }

    fn doors(self) -> u8 {
        match self {
            Body::Coupe | Body::Convertible => 2,
            Body::Van => 3,
            _ => 4,
        }
    }

    /// Drives offered with this body; `None` is the unnamed two-wheel drive.
    fn drives(self) -> &'static [Option<&'static str>] {
        match self {
            Body::Suv => &[None, Some("AWD"), Some("4WD")],
            Body::Pickup => &[None, Some("4WD")],
            Body::Van => &[None],
            _ => &[None, Some("AWD")],
        }
    }

    /// Engines that suit this body.
    fn engines(self) -> &'static [&'static str] {
        match self {
            Body::Suv | Body::Minivan => &ENGINES[3..9],
            Body::Pickup | Body::Van => &ENGINES[4..],
            _ => &ENGINES[..8],
        }
    }
}

/// Transmissions of a model year, by era: gear counts grow over the years.
fn transmissions(year: u16) -> &'static [&'static str] {
    match year {
        ..=2010 => &["4A", "5A", "5M"],
        2011..=2014 => &["6A", "6M", "CVT"],
        _ => &["8A", "9A", "6M", "CVT"],
    }
}

/// Everything a model year could offer: each trim with each body, drive and powertrain. The
/// year's styles are a sample of these, so their names are distinct.
struct Variants<'a> {
    trims: Vec<&'static str>,
    bodies: &'a [Body],
    powertrains: Vec<String>,
}

impl<'a> Variants<'a> {
    /// A few trims and powertrains, grown until they offer at least `count` variants.
    fn draw(rng: &mut impl Rng, bodies: &'a [Body], year: u16, count: usize) -> Variants<'a> {
        let mut spare_trims = TRIMS[1..].to_vec();
        spare_trims.shuffle(rng);
        let mut trims = vec![TRIMS[0]];
        trims.extend(spare_trims.drain(..rng.random_range(1..=3)));

        let mut spare_powertrains: Vec<String> = bodies[0]
            .engines()
            .iter()
            .flat_map(|engine| {
                transmissions(year)
                    .iter()
                    .map(move |gears| format!("{engine} {gears}"))
            })
            .collect();
        spare_powertrains.shuffle(rng);
        let powertrains = spare_powertrains.drain(..rng.random_range(1..=2)).collect();

        let mut variants = Variants {
            trims,
            bodies,
            powertrains,
        };
        while variants.len() < count {
            if let Some(trim) = spare_trims.pop() {
                variants.trims.push(trim);
            } else if let Some(powertrain) = spare_powertrains.pop() {
                variants.powertrains.push(powertrain);
            } else {
                break;
            }
        }
        variants
    }

    fn drives_per_trim(&self) -> usize {
        self.bodies.iter().map(|body| body.drives().len()).sum()
    }

    fn len(&self) -> usize {
        self.trims.len() * self.drives_per_trim() * self.powertrains.len()
    }

    /// The style of variant `index`, numbered trim-major, then body and drive, then powertrain.
    fn style(&self, index: usize, id: i64, model_name: &str) -> Style {
        let per_trim = self.drives_per_trim() * self.powertrains.len();
        let trim = self.trims[index / per_trim];
        let (body, drive) = self
            .bodies
            .iter()
            .flat_map(|body| body.drives().iter().map(move |drive| (*body, *drive)))
            .nth(index % per_trim / self.powertrains.len())
            .expect("index is below len()");
        let powertrain = &self.powertrains[index % self.powertrains.len()];

        let doors_and_body = format!("{}dr {}", body.doors(), body.label());
        let body_part = match drive {
            Some(drive) => format!("{doors_and_body} {drive} ({powertrain})"),
            None => format!("{doors_and_body} ({powertrain})"),
        };
        Style {
            id,
            name: style_name(trim, &body_part),
            trim: trim.to_string(),
            submodel: Submodel {
                body: body.label().to_string(),
                model_name: format!("{model_name} {}", body.label()),
                nice_name: body.label().to_ascii_lowercase(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const KEY: YearKey<'static> = YearKey {
        model_id: "Corvane_Arlo_GT",
        model_name: "Arlo GT",
        year_id: 1_004_210,
        year: 2016,
    };

    #[test]
    fn same_key_and_seed_give_the_same_styles() {
        assert_eq!(
            generate_styles(&KEY, 1..=6, 3),
            generate_styles(&KEY, 1..=6, 3)
        );
    }

    #[test]
    fn counts_ids_and_names_follow_the_contract() {
        for year_id in 1_000..1_200 {
            let key = YearKey { year_id, ..KEY };
            let styles = generate_styles(&key, 3..=MAX_STYLES_PER_YEAR, 11);

            assert!((3..=MAX_STYLES_PER_YEAR).contains(&styles.len()));
            let ids: Vec<i64> = styles.iter().map(|style| style.id).collect();
            let expected: Vec<i64> = (0..styles.len() as i64)
                .map(|slot| year_id * STYLE_ID_SLOTS + 1 + slot)
                .collect();
            assert_eq!(ids, expected);

            let names: BTreeSet<&str> = styles.iter().map(|style| style.name.as_str()).collect();
            assert_eq!(
                names.len(),
                styles.len(),
                "style names repeat in {styles:?}"
            );
        }
    }

    #[test]
    fn styles_read_like_the_api() {
        for year_id in 0..200 {
            for style in generate_styles(&YearKey { year_id, ..KEY }, 1..=6, 5) {
                let submodel = &style.submodel;
                assert_eq!(submodel.model_name, format!("Arlo GT {}", submodel.body));
                assert_eq!(submodel.nice_name, submodel.body.to_ascii_lowercase());
                assert!(style.name.ends_with(')'), "{}", style.name);
                assert!(
                    style.name.contains(&format!("dr {} ", submodel.body)),
                    "{}",
                    style.name
                );
                if style.trim == "Base" {
                    assert!(
                        style.name.starts_with(|c: char| c.is_ascii_digit()),
                        "{}",
                        style.name
                    );
                } else {
                    assert!(
                        style.name.starts_with(&format!("{} ", style.trim)),
                        "{}",
                        style.name
                    );
                }
            }
        }
    }

    #[test]
    fn a_model_keeps_its_bodies_across_years() {
        let bodies: BTreeSet<String> = (0..50)
            .flat_map(|year_id| generate_styles(&YearKey { year_id, ..KEY }, 6..=6, 9))
            .map(|style| style.submodel.body)
            .collect();
        assert!((1..=2).contains(&bodies.len()), "{bodies:?}");
    }

    #[test]
    fn every_body_can_reach_the_maximum_count() {
        for (body, _) in Body::WEIGHTS {
            let bodies = [body];
            let variants = Variants::draw(&mut seed::rng(&[1]), &bodies, 2017, MAX_STYLES_PER_YEAR);
            assert!(
                variants.len() >= MAX_STYLES_PER_YEAR,
                "{body:?} offers {}",
                variants.len()
            );
        }
    }
}
