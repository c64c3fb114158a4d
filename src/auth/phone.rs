//! Phone numbers: the one normalisation every route that accepts a number uses.

/// Normalises a phone number to E.164 (`+62 812-3456-7890` → `+6281234567890`).
/// A leading space is read as `+`, which is what a `+` becomes when a query
/// string is decoded by the form rules. Returns `None` for anything that is
/// not a plausible international number.
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
    let number = phonenumber::parse(None, &text).ok()?;
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
}
