//! Phone-number normalisation: any text is answered without a panic, and
//! an accepted number is `+` and digits (no leading 0; at most 17, the
//! longest national number libphonenumber's data allows after a country
//! code, German ones reaching 16 in all) that normalises to itself.
#![no_main]

use clavox::auth::phone::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Some(number) = normalize(text) else {
        return;
    };
    let digits = number.strip_prefix('+').expect("E.164 starts with +");
    assert!((2..=17).contains(&digits.len()), "{text:?} -> {number}");
    assert!(
        digits.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} -> {number}"
    );
    assert!(!digits.starts_with('0'), "{text:?} -> {number}");
    assert_eq!(normalize(&number).as_deref(), Some(number.as_str()));
});
