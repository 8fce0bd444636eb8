//! RFC 4575 conference-info documents.
