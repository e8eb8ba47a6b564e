//! The calc protocol (the book's arithmetic service): codec and caller.

mod caller;
pub mod proto;

pub use caller::{CalcCaller, CalcOptions};
