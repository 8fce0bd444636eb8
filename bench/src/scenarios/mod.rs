//! One module per scenario; each has clap `Args` and a `main` returning the exit status.

pub mod backends;
pub mod fanout;
pub mod join;
pub mod limit;
pub mod parse;
pub mod register;
pub mod relay;
