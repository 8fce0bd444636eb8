//! Nicknames.
