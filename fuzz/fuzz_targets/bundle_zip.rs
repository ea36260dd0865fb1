#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainclip::data::fuzzing::bundle_zip(data));
