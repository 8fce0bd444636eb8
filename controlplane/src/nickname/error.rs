//! Why a NICKNAME request fails, with its MSRP status code (RFC 7701 §7.1, §10.3).

use thiserror::Error;

/// A refused NICKNAME request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NicknameError {
    /// The room does not allow nicknames: 403.
    #[error("nicknames are not allowed in this room")]
    Disabled,
    /// The Use-Nickname value is malformed or not a valid PRECIS nickname: 424.
    #[error("malformed nickname: {0}")]
    Malformed(&'static str),
    /// The nickname is a reserved word: 425.
    #[error("nickname reserved")]
    Reserved,
    /// Another user holds (or has quarantined) the nickname: 425.
    #[error("nickname already in use")]
    InUse,
}

impl NicknameError {
    /// MSRP status code for the NICKNAME response.
    pub fn status_code(&self) -> u16 {
        match self {
            NicknameError::Disabled => 403,
            NicknameError::Malformed(_) => 424,
            NicknameError::Reserved | NicknameError::InUse => 425,
        }
    }

    /// The comment for the response line (RFC 7701 §10.3 Table 1 descriptions).
    pub fn comment(&self) -> &'static str {
        match self {
            NicknameError::Disabled => "Action-not-allowed",
            NicknameError::Malformed(_) => "Malformed nickname",
            NicknameError::Reserved | NicknameError::InUse => "Nickname reserved or already in use",
        }
    }
}
