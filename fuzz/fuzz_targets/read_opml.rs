//! OPML import: any bytes are read or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tributary::app::sources::read_opml(data);
});
