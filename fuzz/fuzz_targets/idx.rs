//! The IDX reader, fed any bytes (gzipped or raw): it returns sizes that account for
//! every data byte, or an error message, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = wgnn::data::decode_idx(data) {
        let sizes: Option<usize> = idx.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(sizes, Some(idx.data.len()), "dims {:?}", idx.dims);
    }
});
