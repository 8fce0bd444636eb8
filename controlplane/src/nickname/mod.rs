//! Chat room nicknames: RFC 7701 §7 with RFC 7700 / RFC 8266 (PRECIS Nickname profile).
//!
//! [`parse_use_nickname`] reads the `Use-Nickname` header value of a NICKNAME request,
//! [`PreparedNickname`] applies the PRECIS rules, and [`NicknameRegistry`] decides the response
//! (200 / 403 / 424 / 425) and keeps who holds what, per uniqueness scope (one room, or several
//! rooms sharing a scope). Sans-IO: time is passed in as `now`.

mod error;
mod header;
mod prepare;
mod registry;

pub use error::NicknameError;
pub use header::{format_use_nickname, parse_use_nickname, NicknameRequest, MAX_NICKNAME_OCTETS};
pub use prepare::PreparedNickname;
pub use registry::{HolderId, NicknameGrant, NicknameOwner, NicknamePolicy, NicknameRegistry};
