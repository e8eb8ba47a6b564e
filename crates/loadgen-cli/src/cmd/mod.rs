//! Subcommands.

pub mod run;
pub mod serve;
pub mod signals;
