//! The RFC 4575 conference-info document model (the parts a chat room uses), plus the RFC 6501
//! `xcon:nickname` attribute of `<user>` as RFC 7701 §7.4/§9.6 publishes nicknames.

use std::fmt;

/// `application/conference-info+xml`.
pub const CONTENT_TYPE: &str = "application/conference-info+xml";
/// RFC 4575 namespace.
pub const NS_CONFERENCE_INFO: &str = "urn:ietf:params:xml:ns:conference-info";
/// RFC 6501 namespace, which carries the `nickname` attribute.
pub const NS_XCON: &str = "urn:ietf:params:xml:ns:xcon-conference-info";

/// RFC 4575 §5 `state` attribute (default `full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ElementState {
    /// The element carries its complete state.
    #[default]
    Full,
    /// Only changes; merge with what the subscriber has.
    Partial,
    /// The element is gone.
    Deleted,
}

impl ElementState {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ElementState::Full => "full",
            ElementState::Partial => "partial",
            ElementState::Deleted => "deleted",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "full" => Some(ElementState::Full),
            "partial" => Some(ElementState::Partial),
            "deleted" => Some(ElementState::Deleted),
            _ => None,
        }
    }
}

/// A string-valued enumeration with an escape hatch for extension values.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)*
            /// A value this implementation does not know.
            Other(String),
        }
        impl $name {
            /// The XML text.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$v => $s,)*
                    $name::Other(s) => s,
                }
            }
            /// Parses the XML text (surrounding whitespace ignored).
            pub fn parse(s: &str) -> Self {
                match s.trim() {
                    $($s => $name::$v,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// RFC 4575 §5.6.3 `<status>` of an endpoint.
    EndpointStatus {
        /// `pending`
        Pending = "pending",
        /// `dialing-out`
        DialingOut = "dialing-out",
        /// `dialing-in`
        DialingIn = "dialing-in",
        /// `alerting`
        Alerting = "alerting",
        /// `on-hold`
        OnHold = "on-hold",
        /// `connected`
        Connected = "connected",
        /// `muted-via-focus`
        MutedViaFocus = "muted-via-focus",
        /// `disconnecting`
        Disconnecting = "disconnecting",
        /// `disconnected`
        Disconnected = "disconnected",
    }
);

text_enum!(
    /// RFC 4575 §5.6.4 `<joining-method>`.
    JoiningMethod {
        /// `dialed-in`
        DialedIn = "dialed-in",
        /// `dialed-out`
        DialedOut = "dialed-out",
        /// `focus-owner`
        FocusOwner = "focus-owner",
    }
);

text_enum!(
    /// RFC 4575 §5.6.6 `<disconnection-method>`.
    DisconnectionMethod {
        /// `departed`
        Departed = "departed",
        /// `booted`
        Booted = "booted",
        /// `failed`
        Failed = "failed",
        /// `busy`
        Busy = "busy",
    }
);

text_enum!(
    /// RFC 4575 §5.8.5 media `<status>`.
    MediaStatus {
        /// `sendrecv`
        SendRecv = "sendrecv",
        /// `sendonly`
        SendOnly = "sendonly",
        /// `recvonly`
        RecvOnly = "recvonly",
        /// `inactive`
        Inactive = "inactive",
    }
);

/// A `<entry>` of `<conf-uris>` / `<service-uris>` (RFC 4575 §5.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriEntry {
    /// `<uri>`.
    pub uri: String,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<purpose>` (`participation`, `streaming`, `web-page`, ...).
    pub purpose: Option<String>,
}

/// A `<available-media>/<entry>` (RFC 4575 §5.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AvailableMedia {
    /// `label` attribute.
    pub label: String,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<type>` (`message` for a chat room).
    pub media_type: String,
    /// `<status>`.
    pub status: Option<MediaStatus>,
}

/// `<conference-description>` (RFC 4575 §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceDescription {
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<subject>`.
    pub subject: Option<String>,
    /// `<free-text>`.
    pub free_text: Option<String>,
    /// `<conf-uris>` entries.
    pub conf_uris: Vec<UriEntry>,
    /// `<service-uris>` entries.
    pub service_uris: Vec<UriEntry>,
    /// `<maximum-user-count>`.
    pub maximum_user_count: Option<u32>,
    /// `<available-media>` entries.
    pub available_media: Vec<AvailableMedia>,
}

/// `<conference-state>` (RFC 4575 §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConferenceStateInfo {
    /// `<user-count>`.
    pub user_count: Option<u32>,
    /// `<active>`.
    pub active: Option<bool>,
    /// `<locked>`.
    pub locked: Option<bool>,
}

/// `<media>` of an endpoint (RFC 4575 §5.8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `id` attribute (key for partial merges).
    pub id: String,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<type>` (`message`).
    pub media_type: Option<String>,
    /// `<label>` (the SDP `a=label`, if any).
    pub label: Option<String>,
    /// `<src-id>`.
    pub src_id: Option<String>,
    /// `<status>`.
    pub status: Option<MediaStatus>,
}

/// `<endpoint>` (RFC 4575 §5.7): one device/session of a user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// `entity` attribute; optional in the schema, the key for partial merges.
    pub entity: Option<String>,
    /// `state` attribute.
    pub state: ElementState,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<status>`.
    pub status: Option<EndpointStatus>,
    /// `<joining-method>`.
    pub joining_method: Option<JoiningMethod>,
    /// `<disconnection-method>`.
    pub disconnection_method: Option<DisconnectionMethod>,
    /// `<media>` elements.
    pub media: Vec<Media>,
}

/// `<user>` (RFC 4575 §5.6) with the RFC 6501 nickname.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// `entity` attribute: the URI others use as CPIM To for private messages (the anonymous
    /// URI for anonymous participants).
    pub entity: String,
    /// `state` attribute.
    pub state: ElementState,
    /// `xcon:nickname` attribute (RFC 6501, as in RFC 7701 §9.6).
    pub nickname: Option<String>,
    /// `<display-text>`.
    pub display_text: Option<String>,
    /// `<roles>/<entry>` values.
    pub roles: Vec<String>,
    /// `<endpoint>` elements.
    pub endpoints: Vec<Endpoint>,
}

/// `<users>` (RFC 4575 §5.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Users {
    /// `state` attribute.
    pub state: ElementState,
    /// `<user>` elements.
    pub users: Vec<User>,
}

/// A `<conference-info>` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceInfo {
    /// `entity`: the conference (room) URI.
    pub entity: String,
    /// `state`: full, partial or deleted.
    pub state: ElementState,
    /// `version`: per-subscription counter (RFC 4575 §4.6).
    pub version: Option<u32>,
    /// `<conference-description>`.
    pub description: Option<ConferenceDescription>,
    /// `<conference-state>`.
    pub conference_state: Option<ConferenceStateInfo>,
    /// `<users>`.
    pub users: Option<Users>,
}
