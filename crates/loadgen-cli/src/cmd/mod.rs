//! Subcommands.

pub mod merge;
pub mod run;
pub mod serve;
pub mod signals;
