//! Semantic checks: everything AWS would refuse, named by object id and field.

use super::{Config, ConfigError};

/// Every semantic error of a parsed config (empty when valid).
pub fn validate(_config: &Config) -> Vec<ConfigError> {
    Vec::new()
}
