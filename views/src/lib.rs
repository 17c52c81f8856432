//! What "current" means, and the views, defined once for the batch, speed and serving layers.
//!
//! The layers differ only in how they find each scope's winning snapshot; from the winners on,
//! they all call [`current_tables`] and [`Views::compute`], so their answers agree by
//! construction.

mod current;
mod merge;
mod views;

pub use current::{Snapshot, Tables, Winners, current_tables};
pub use merge::{LayerView, merge};
pub use views::{
    BodyStyleCount, Category, Issue, MakeSummary, ModelYearCount, QualityRow, VIEW_NAMES, Views,
};
