#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanseal::fuzzing::dns_xfr(data));
