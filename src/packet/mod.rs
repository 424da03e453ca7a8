//! Zero-copy packet views and the parsed summary the pipeline decides on.

pub mod checksum;
