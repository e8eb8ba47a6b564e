//! Subcommands.

pub mod compare;
pub mod limits;
pub mod live;
pub mod merge;
pub mod output;
pub mod progress;
pub mod run;
pub mod search;
pub mod serve;
pub mod signals;
pub mod tui;
pub mod watch;
