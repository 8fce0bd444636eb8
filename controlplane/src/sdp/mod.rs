//! SDP (RFC 8866 / RFC 4566) for MSRP sessions: a robust parser and serializer, typed views of the
//! MSRP media attributes (RFC 4975 §8, RFC 6135, RFC 6714, RFC 7701 §8, RFC 8122), and the chat
//! room offer/answer logic in [`offer_answer`].
//!
//! Everything here is sans-IO: bytes in, values out. DNS, when address matching needs it, comes
//! from the caller through [`address::Resolver`].

pub mod address;
mod error;
mod format_list;
mod model;
mod msrp_media;
mod msrp_uri;
pub mod offer_answer;
mod parse;

pub use error::{AttributeError, SdpError};
pub use format_list::{FormatEntry, FormatList};
pub use model::{
    Attribute, Bandwidth, Connection, LineEnding, MediaDescription, MediaLine, Origin,
    SessionDescription, TimeDescription, Timing,
};
pub use msrp_media::{ChatroomCaps, Direction, Fingerprint, MsrpMedia, MsrpProto, SetupRole};
pub use msrp_uri::{Host, MsrpScheme, MsrpUri};
pub use parse::{parse, parse_with_limits, ParseLimits};

#[cfg(test)]
mod tests;
