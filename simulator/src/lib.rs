//! A deterministic generator of plausible responses of the Edmunds vehicle API v2.
//!
//! It invents a catalog (makes, models, model years and styles, all names made up) from a
//! [`GeneratorConfig`], and renders it as the API's responses, so that `carlambda demo`, an
//! HTTP simulator of the API and the benchmarks have input on a machine without recorded
//! data. The same config always gives byte-identical output.
//!
//! [`SimulatedApi`] serves the API's endpoints over HTTP from the generated catalog or from
//! recorded responses, with faults at chosen rates ([`FaultConfig`]), for tests and demos.
//!
//! ```
//! use carlambda_simulator::{Catalog, GeneratorConfig};
//!
//! let catalog = Catalog::generate(&GeneratorConfig::default());
//! let responses = catalog.all_responses();
//!
//! assert_eq!(responses[0].endpoint, "/api/vehicle/v2/makes");
//! assert_eq!(responses[0].file_name(), "makes.json");
//! ```

mod catalog;
mod config;
mod faults;
mod names;
mod poll;
mod recorded;
mod response;
mod seed;
mod server;
mod styles;
mod wire;

pub use catalog::{Catalog, Make, Model, ModelYear, Style, Submodel};
pub use config::GeneratorConfig;
pub use faults::{BadRates, Fault, FaultConfig};
pub use names::{model_id, nice_name};
pub use recorded::{Canned, Recorded, path_of_file_name};
pub use response::{Response, error_body, write_responses};
pub use server::{Answers, SimulatedApi};
pub use styles::{MAX_STYLES_PER_YEAR, STYLE_ID_SLOTS, YearKey, generate_styles};
