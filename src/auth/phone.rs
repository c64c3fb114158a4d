//! Phone numbers: the one normalisation every route that accepts a number uses.

/// Normalises a phone number to E.164 (`+62 812-3456-7890` → `+6281234567890`).
/// A leading space is read as `+`, which is what a `+` becomes when a query
/// string is decoded by the form rules. Returns `None` for anything that is
/// not a plausible international number.
/// `normalize`, or the `validation_failed` every route that takes a number
/// answers with.
pub fn parse(text: &str) -> Result<String, crate::error::Error> {
    normalize(text).ok_or_else(|| {
        crate::error::Error::validation(
            "phoneNumber",
            "must be an international phone number such as +6281234567890",
        )
    })
}

pub fn normalize(text: &str) -> Option<String> {
    let text = text.trim_end();
    let text = match text.strip_prefix(' ') {
        Some(rest) if !rest.trim_start().starts_with('+') => format!("+{}", rest.trim_start()),
        _ => text.trim_start().to_owned(),
    };
    if !text.starts_with('+') || text.len() > 32 {
        return None;
    }
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')');
    if !text.chars().all(allowed) || text[1..].contains('+') {
        return None;
    }
    // Separators only format a number, and the parser refuses some of their
    // placements (`+1415555-2671`, `+62812345678-90`), so it sees the digits.
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let number = phonenumber::parse(None, format!("+{digits}")).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn formatted_numbers_become_e164() {
        assert_eq!(
            normalize("+62 812-3456-7890").as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            normalize("+6281234567890").as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            normalize("+1 (415) 555-2671").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            normalize("+44 7911 123456").as_deref(),
            Some("+447911123456")
        );
    }

    #[test]
    fn separators_may_fall_anywhere() {
        assert_eq!(
            normalize("+62812345678-90").as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(normalize("+1415555-2671").as_deref(), Some("+14155552671"));
    }

    #[test]
    fn a_leading_space_is_a_decoded_plus() {
        assert_eq!(
            normalize(" 6281234567890").as_deref(),
            Some("+6281234567890")
        );
    }

    #[test]
    fn implausible_numbers_are_refused() {
        for bad in [
            "",
            "+",
            "12345",
            "081234567890",
            "+62abc",
            "+62 812 3456 7890 1234 5678",
            "++6281234567890",
            "+0000000",
            "hello",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    mod properties {
        use super::normalize;
        use proptest::prelude::*;

        /// Numbers `normalize` accepts, one per region of a few countries.
        const VALID: [&str; 6] = [
            "+6281234567890",
            "+14155552671",
            "+447911123456",
            "+6591234567",
            "+4915123456789",
            "+33612345678",
        ];

        /// Text that looks like a phone number: what reaches the parser.
        fn phone_like() -> impl Strategy<Value = String> {
            "[ ]?[+]?[0-9 ().+-]{0,40}"
        }

        /// `+` and digits. E.164 allows 15, but libphonenumber's data
        /// (which `normalize` follows) holds valid German numbers of 16.
        fn is_e164(text: &str) -> bool {
            text.strip_prefix('+').is_some_and(|digits| {
                (2..=17).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0')
            })
        }

        /// `text` with `separator` after each digit marked in `at`.
        fn spaced(text: &str, at: &[bool], separator: char) -> String {
            let mut out = String::from("+");
            let digits = &text[1..];
            for (index, digit) in digits.chars().enumerate() {
                out.push(digit);
                if at.get(index).copied().unwrap_or(false) && index + 1 < digits.len() {
                    out.push(separator);
                }
            }
            out
        }

        proptest! {
            #[test]
            fn any_text_is_answered_without_panicking(text in any::<String>()) {
                if let Some(number) = normalize(&text) {
                    prop_assert!(is_e164(&number), "{text:?} -> {number:?}");
                }
            }

            #[test]
            fn accepted_numbers_are_e164_and_normalise_to_themselves(text in phone_like()) {
                if let Some(number) = normalize(&text) {
                    prop_assert!(is_e164(&number), "{text:?} -> {number:?}");
                    prop_assert_eq!(normalize(&number), Some(number.clone()));
                }
            }

            #[test]
            fn separators_and_surrounding_space_do_not_change_a_number(
                which in 0..VALID.len(),
                at in prop::collection::vec(any::<bool>(), 15),
                separator in prop::sample::select(vec![' ', '-', '.']),
                trailing in "[ ]{0,3}",
            ) {
                let number = VALID[which];
                let written = format!("{}{trailing}", spaced(number, &at, separator));
                let normalised = normalize(&written);
                prop_assert_eq!(normalised.as_deref(), Some(number), "{:?}", written);
            }

            #[test]
            fn a_leading_space_reads_as_a_plus(text in "[0-9]{0,20}") {
                prop_assert_eq!(normalize(&format!(" {text}")), normalize(&format!("+{text}")));
            }

            #[test]
            fn letters_and_long_input_are_refused(
                number in "[+][0-9]{5,14}",
                letter in "[a-zA-Z#*,;]",
                padding in "[0-9 ]{33,40}",
            ) {
                prop_assert_eq!(normalize(&format!("{number}{letter}")), None);
                prop_assert_eq!(normalize(&format!("+{padding}1")), None);
            }
        }
    }
}
