//! The conference event package of a chat room (RFC 4575, RFC 7701 §5.2 and §7.4).
//!
//! [`Roster`] and [`Subscription`] produce the NOTIFY bodies the focus sends (full and partial
//! documents, per-subscription versions); [`parse_conference_info`] and [`ClientRoster`] let a
//! client follow them. Nicknames are published with the RFC 6501 `xcon:nickname` attribute on
//! `<user>`, exactly as RFC 7701 §9.6 shows; anonymous participants appear only under their
//! anonymous URI.

mod client;
mod model;
mod read;
mod roster;
mod write;

pub use client::{Applied, ClientRoster, RosterSyncError};
pub use model::{
    AvailableMedia, ConferenceDescription, ConferenceInfo, ConferenceStateInfo,
    DisconnectionMethod, ElementState, Endpoint, EndpointStatus, JoiningMethod, Media, MediaStatus,
    UriEntry, User, Users, CONTENT_TYPE, NS_CONFERENCE_INFO, NS_XCON,
};
pub use read::{
    parse_conference_info, parse_conference_info_with_limits, ConferenceParseError, XmlLimits,
};
pub use roster::{
    Participant, ParticipantEndpoint, RoomDescription, Roster, RosterChange, Subscription,
};
pub use write::{escape_attr, escape_text, to_xml};

#[cfg(test)]
mod tests;
