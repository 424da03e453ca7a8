//! The config language (see `model`), its loader with line:column errors, and its validation.
//!
//! Data flows one way: `load` (text → `model`), then `check` (each object on its own: ranges,
//! formats, duplicates within a list), then `resolve` (every string id → a typed index of
//! `index`, each dangling or inconsistent reference reported once). `validate` runs both; the
//! compiler (`snapshot`) starts from the resolved form and never looks an id up by string.

mod model;
pub use model::*;

pub mod aws;
mod check;
pub mod index;
pub mod load;
pub mod resolve;
pub mod validate;

pub use check::parse_protocol;
pub use index::{
    EndpointIdx, EniIdx, Idx, IdxVec, NaclIdx, NatIdx, PlIdx, PortIdx, RtbIdx, SgIdx, SubnetIdx,
};
pub use resolve::{Resolved, resolve};

use std::fmt;

/// Where a config error is: a place in the YAML text, or an object and one of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorLocation {
    /// Syntax or type errors: `file:line:column` (1-based).
    Text {
        file: String,
        line: u64,
        column: u64,
    },
    /// Semantic errors: the object's id (`subnet-…`, `rtb-…`) and the field, e.g. `Routes[2].NatGatewayId`.
    Object { id: String, field: String },
}

/// One problem found in a config. `vpcfwd check` prints all of them, one a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: ErrorLocation,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            ErrorLocation::Text { file, line, column } => {
                write!(f, "{file}:{line}:{column}: {}", self.message)
            }
            ErrorLocation::Object { id, field } => write!(f, "{id}: {field}: {}", self.message),
        }
    }
}

/// Collects errors in the order found.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<ConfigError>);

impl Errors {
    pub(crate) fn push(&mut self, id: &str, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: ErrorLocation::Object {
                id: id.to_string(),
                field: field.into(),
            },
            message: message.into(),
        });
    }
}

/// Reads, parses and validates a config file: every error found, not just the first.
pub fn load_file(path: &std::path::Path) -> Result<Config, Vec<ConfigError>> {
    let config = load::parse_file(path)?;
    let errors = validate::validate(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}
