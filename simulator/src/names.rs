//! Invented names for makes and models, and the nice names and model ids the API derives from
//! them. Every name here is made up; none is a real make or model.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

/// First halves of make names ("Cor" + "vane").
const MAKE_STEMS: [&str; 20] = [
    "Cor", "Hal", "Ves", "Mar", "Tal", "Bren", "Ost", "Kel", "Rav", "Sel", "Dun", "Eld", "Fen",
    "Gar", "Lun", "Nor", "Pel", "Quen", "Tor", "Wex",
];

/// Second halves of make names.
const MAKE_ENDINGS: [&str; 15] = [
    "vane", "den", "ora", "ita", "wick", "mont", "ley", "essa", "ric", "ano", "ex", "ton", "ell",
    "ova", "ard",
];

/// Words some makes carry after their name ("Halden Motors").
const MAKE_SUFFIXES: [&str; 3] = ["Motors", "Automotive", "Cars"];

/// Model names that are words.
const MODEL_WORDS: [&str; 28] = [
    "Arlo", "Bexley", "Calder", "Dorran", "Elwin", "Fennick", "Galen", "Halvard", "Istra",
    "Jorvik", "Kestrel", "Lumen", "Merrow", "Norra", "Orvell", "Pallas", "Quill", "Rhosa",
    "Sorrel", "Tamsin", "Ulvar", "Varro", "Wrenna", "Yarrow", "Alder", "Brae", "Cinder", "Dunmore",
];

/// Letter series of alphanumeric model names ("KV 300").
const MODEL_SERIES: [&str; 8] = ["KV", "TR", "VZ", "EL", "HX", "ND", "SQ", "JT"];

/// Numbers of alphanumeric model names.
const MODEL_NUMBERS: [&str; 8] = ["20", "30", "40", "250", "300", "450", "7", "9"];

/// Badges some model names end with ("Arlo GT").
const MODEL_BADGES: [&str; 6] = ["GT", "Hybrid", "Sport", "XL", "Cross", "LWB"];

/// `count` distinct make names.
pub(crate) fn make_names(rng: &mut impl Rng, count: usize) -> Vec<String> {
    let mut stems: Vec<String> = MAKE_STEMS
        .iter()
        .flat_map(|stem| {
            MAKE_ENDINGS
                .iter()
                .map(move |ending| format!("{stem}{ending}"))
        })
        .collect();
    stems.shuffle(rng);

    (0..count)
        .map(|index| {
            let stem = &stems[index % stems.len()];
            // Past the last stem, names repeat with a number, as a maker's second brand would.
            let round = index / stems.len();
            let name = if round == 0 {
                stem.clone()
            } else {
                format!("{stem} {}", round + 1)
            };
            if rng.random_bool(0.2) {
                let suffix = MAKE_SUFFIXES.choose(rng).expect("suffixes are not empty");
                format!("{name} {suffix}")
            } else {
                name
            }
        })
        .collect()
}

/// `count` model names, distinct within one make.
pub(crate) fn model_names(rng: &mut impl Rng, count: usize) -> Vec<String> {
    let mut taken = BTreeSet::new();
    let mut names = Vec::with_capacity(count);

    while names.len() < count {
        let mut name = model_name(rng);
        if taken.contains(&name) {
            // The pool is small enough to run out for a large make; number the repeat.
            name = format!("{name} {}", names.len() + 1);
        }
        if taken.insert(name.clone()) {
            names.push(name);
        }
    }
    names
}

fn model_name(rng: &mut impl Rng) -> String {
    let stem = if rng.random_bool(0.65) {
        MODEL_WORDS
            .choose(rng)
            .expect("words are not empty")
            .to_string()
    } else {
        let series = MODEL_SERIES.choose(rng).expect("series are not empty");
        let number = MODEL_NUMBERS.choose(rng).expect("numbers are not empty");
        format!("{series} {number}")
    };

    if rng.random_bool(0.25) {
        let badge = MODEL_BADGES.choose(rng).expect("badges are not empty");
        format!("{stem} {badge}")
    } else {
        stem
    }
}

/// The API's nice name of a make or model name: lowercase, with each run of other characters
/// turned into one hyphen ("Halden Motors" is "halden-motors", "KV 300" is "kv-300").
pub fn nice_name(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The API's id of a model: its make's name and its own, spaces turned into underscores
/// ("Corvane" and "Arlo GT" give "Corvane_Arlo_GT").
pub fn model_id(make_name: &str, model_name: &str) -> String {
    format!("{make_name}_{model_name}").replace(' ', "_")
}

/// The nice name of the make of a model id made by [`model_id`], given the model's name:
/// `Halden_Motors_Arlo_GT` and `Arlo GT` give `halden-motors`. `None` when the id does not end
/// with the model's name.
pub(crate) fn make_nice_name_of(model_id: &str, model_name: &str) -> Option<String> {
    let model_part = format!("_{}", model_name.replace(' ', "_"));
    let make_part = model_id.strip_suffix(&model_part)?;
    Some(nice_name(&make_part.replace('_', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn nice_names_are_lowercase_and_hyphenated() {
        assert_eq!(nice_name("Halden Motors"), "halden-motors");
        assert_eq!(nice_name("KV 300"), "kv-300");
        assert_eq!(nice_name("Arlo GT"), "arlo-gt");
        assert_eq!(nice_name("  Odd -- Name! "), "odd-name");
    }

    #[test]
    fn model_ids_join_make_and_model_with_underscores() {
        assert_eq!(model_id("Corvane", "Arlo GT"), "Corvane_Arlo_GT");
        assert_eq!(model_id("Halden Motors", "KV 300"), "Halden_Motors_KV_300");
    }

    #[test]
    fn make_nice_name_is_recovered_from_model_id() {
        let id = model_id("Halden Motors", "Arlo GT");
        assert_eq!(
            make_nice_name_of(&id, "Arlo GT").as_deref(),
            Some("halden-motors")
        );
        assert_eq!(make_nice_name_of("Something_Else", "Arlo GT"), None);
    }

    #[test]
    fn names_stay_distinct_past_the_pools() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);

        let makes = make_names(&mut rng, 700);
        let distinct: BTreeSet<_> = makes.iter().map(|name| nice_name(name)).collect();
        assert_eq!(distinct.len(), makes.len());

        let models = model_names(&mut rng, 500);
        let distinct: BTreeSet<_> = models.iter().map(|name| nice_name(name)).collect();
        assert_eq!(distinct.len(), models.len());
    }
}
