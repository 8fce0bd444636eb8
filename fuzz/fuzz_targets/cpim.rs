//! Parses arbitrary bytes as the start of a message/cpim body, runs every accessor, and checks
//! that every prefix of a complete header block is `Incomplete` or parses the same way.
#![no_main]

use dataplane::wire::{CpimError, CpimView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = CpimView::parse_with_limit(data, 2048);
    if let Ok(v) = &r {
        let _ = v.from();
        let _ = v.to().count();
        let _ = v.cc().count();
        let _ = v.datetime();
        for s in v.subjects() {
            let _ = s.lang();
        }
        let _ = v.namespaces().count();
        let _ = v.require().count();
        let _ = v.extension_headers().count();
        let _ = v.mime_headers().count();
        let _ = v.content_type();
        for a in v.to().flatten() {
            let _ = a.display_name();
        }
        assert!(v.payload_offset() <= data.len());
        // A prefix that stops before the payload must be Incomplete, never another error.
        let cut = v.payload_offset().saturating_sub(1);
        assert_eq!(
            CpimView::parse_with_limit(&data[..cut], 2048).err(),
            Some(CpimError::Incomplete)
        );
    }
});
