//! Later polls of a model: the same model with its latest year's styles changed a little, as a
//! source polled again and again sees a catalog being edited.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::catalog::{Model, Style};
use crate::seed;
use crate::styles::style_name;

/// Trims that only later polls add, so an added style never repeats an existing name.
const EDITION_TRIMS: [&str; 5] = [
    "Launch Edition",
    "Special Edition",
    "Anniversary Edition",
    "Night Edition",
    "Heritage Edition",
];

/// What a poll changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    RemoveStyle,
    AddStyle,
}

impl Model {
    /// This model as poll number `poll` returns it, deterministic for `(self.id, poll)`.
    ///
    /// Poll 0 is the model itself. A later poll is either unchanged or differs from poll 0 in
    /// its latest model year only, by one style removed or one style added (a new edition of
    /// an existing style, with the id after the year's highest). Every other style keeps its
    /// id and content. Each poll varies poll 0, not the poll before, so any poll can be made
    /// alone.
    ///
    /// ```
    /// use carlambda_simulator::{Catalog, GeneratorConfig};
    ///
    /// let catalog = Catalog::generate(&GeneratorConfig::default());
    /// let model = &catalog.makes[0].models[0];
    ///
    /// assert_eq!(&model.at_poll(0), model);
    /// assert!((1..20).any(|poll| &model.at_poll(poll) != model));
    /// ```
    pub fn at_poll(&self, poll: u32) -> Model {
        let mut model = self.clone();
        if poll == 0 {
            return model;
        }

        let mut rng = seed::rng(&[seed::hash_str(&self.id), u64::from(poll)]);
        let change = match rng.random_range(0..4) {
            0 | 1 => Change::None,
            2 => Change::RemoveStyle,
            _ => Change::AddStyle,
        };
        let Some(latest) = model
            .years
            .iter_mut()
            .max_by_key(|model_year| model_year.year)
        else {
            return model;
        };

        match change {
            Change::None => {}
            // A model year keeps at least one style; a lone style gets a sibling instead.
            Change::RemoveStyle if latest.styles.len() > 1 => {
                latest
                    .styles
                    .remove(rng.random_range(0..latest.styles.len()));
            }
            Change::RemoveStyle | Change::AddStyle => {
                if let Some(style) = added_style(&mut rng, &latest.styles) {
                    latest.styles.push(style);
                }
            }
        }
        model
    }
}

/// A new edition of one of `styles`, with the id after their highest. `None` when there is no
/// style to base it on, or every edition is already taken.
// LIMITATION: the next id is free only where model years own blocks of ids, as generated
// catalogs do (see STYLE_ID_SLOTS); for a model with the recorded catalog's ids it may collide.
fn added_style(rng: &mut impl Rng, styles: &[Style]) -> Option<Style> {
    let base = styles.choose(rng)?;
    let trim = EDITION_TRIMS
        .iter()
        .find(|trim| styles.iter().all(|style| style.trim != **trim))?;
    let id = styles.iter().map(|style| style.id).max()? + 1;

    let base_prefix = format!("{} ", base.trim);
    let body_part = base.name.strip_prefix(&base_prefix).unwrap_or(&base.name);
    Some(Style {
        id,
        name: style_name(trim, body_part),
        trim: trim.to_string(),
        submodel: base.submodel.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{Catalog, GeneratorConfig};

    fn styles_by_id(model: &Model) -> BTreeMap<i64, &Style> {
        model
            .years
            .iter()
            .flat_map(|year| &year.styles)
            .map(|style| (style.id, style))
            .collect()
    }

    #[test]
    fn later_polls_change_one_style_and_keep_the_rest() {
        let catalog = Catalog::generate(&GeneratorConfig::default());
        let mut changed_polls = 0;

        for model in catalog.makes.iter().flat_map(|make| &make.models) {
            assert_eq!(&model.at_poll(0), model);
            let original = styles_by_id(model);

            for poll in 1..=12 {
                let later = model.at_poll(poll);
                assert_eq!(later, model.at_poll(poll), "polls are deterministic");
                assert_eq!(later.id, model.id);
                assert_eq!(later.years.len(), model.years.len());

                let current = styles_by_id(&later);
                let removed = original
                    .keys()
                    .filter(|id| !current.contains_key(id))
                    .count();
                let added = current
                    .keys()
                    .filter(|id| !original.contains_key(id))
                    .count();
                assert!(
                    removed + added <= 1,
                    "poll {poll} of {} changed more",
                    model.id
                );
                for (id, style) in &current {
                    if let Some(before) = original.get(id) {
                        assert_eq!(before, style, "poll {poll} edited style {id}");
                    }
                }
                if later != *model {
                    changed_polls += 1;
                }
            }
        }
        assert!(changed_polls > 0);
    }

    #[test]
    fn added_styles_are_new_editions_with_fresh_ids() {
        let catalog = Catalog::generate(&GeneratorConfig::default());

        for model in catalog.makes.iter().flat_map(|make| &make.models) {
            let original = styles_by_id(model);
            for poll in 1..=12 {
                let later = model.at_poll(poll);
                for (id, style) in styles_by_id(&later) {
                    if !original.contains_key(&id) {
                        assert!(EDITION_TRIMS.contains(&style.trim.as_str()), "{style:?}");
                        assert!(style.name.starts_with(&style.trim));
                    }
                }
            }
        }
    }
}
