//! Client tests against a scripted room on loopback.

mod fake_focus;
mod flows;
