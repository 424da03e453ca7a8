//! Semantic checks: everything AWS would refuse, each error naming the object id and field.
//! All errors are collected, not just the first, so one `check` run shows a user everything to
//! fix: first those of each object on its own (`check`), then those of its references
//! (`resolve`).

use super::{Config, ConfigError, check, resolve};

/// Every semantic error of a parsed config (empty when valid).
pub fn validate(cfg: &Config) -> Vec<ConfigError> {
    let mut errors = check::objects(cfg);
    if let Err(e) = resolve(cfg) {
        errors.extend(e);
    }
    errors
}
