//! One form of text for indexing and for queries alike, so that matching is
//! case-, width- and accent-insensitive: compatibility decomposition (NFKD:
//! full-width `ｋ` is `k`, `ﬁ` is `fi`), the generic combining accents dropped
//! (`é` is `e`), lower case with the few full case folds that matter (`ß` is
//! `ss`, final `ς` is `σ`), then composed again (NFC: Hangul syllables and kana
//! with voicing marks come back whole).
//!
//! Only the combining blocks used over Latin, Greek and Cyrillic letters are
//! dropped: Thai tone marks, Indic vowel signs and Arabic vowel marks are
//! letters of their words, not accents, and stay.

use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};

/// `text` in the form the index and queries share.
pub fn normalise(text: &str) -> String {
    let decomposed = DecomposingNormalizerBorrowed::new_nfkd().normalize(text);
    let mut folded = String::with_capacity(decomposed.len());
    for c in decomposed.chars().filter(|c| !is_accent(*c)) {
        match c {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            _ => folded.extend(c.to_lowercase().filter(|c| !is_accent(*c))),
        }
    }
    let composed = ComposingNormalizerBorrowed::new_nfc().normalize(&folded);
    recompose_am(composed.into_owned())
}

/// Combining diacritical marks (and their supplements, half marks and
/// marks for symbols): the accents put over Latin, Greek and Cyrillic.
fn is_accent(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Compatibility decomposition splits Thai SARA AM (and Lao AM) into NIKHAHIT
/// and SARA AA, a spelling no Thai text uses and the word segmenter was not
/// trained on: put them back together.
fn recompose_am(text: String) -> String {
    if !text.contains(['\u{0E4D}', '\u{0ECD}']) {
        return text;
    }
    text.replace("\u{0E4D}\u{0E32}", "\u{0E33}")
        .replace("\u{0ECD}\u{0EB2}", "\u{0EB3}")
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn case_width_and_accents_fold_away() {
        assert_eq!(normalise("KOPI"), "kopi");
        assert_eq!(normalise("ｋｏｐｉ"), "kopi");
        assert_eq!(normalise("Café"), "cafe");
        assert_eq!(normalise("cafe\u{0301}"), "cafe");
        assert_eq!(normalise("Việt Nam"), "viet nam");
        assert_eq!(normalise("İstanbul"), "istanbul");
        assert_eq!(normalise("Straße"), "strasse");
        assert_eq!(normalise("ΟΔΟΣ"), "οδοσ");
        assert_eq!(normalise("ﬁle"), "file");
    }

    #[test]
    fn scripts_whose_marks_are_letters_keep_them() {
        assert_eq!(normalise("น้ำ"), "น้ำ");
        assert_eq!(normalise("नमस्ते"), "नमस्ते");
        assert_eq!(normalise("한국어"), "한국어");
        assert_eq!(normalise("がぎ"), "がぎ");
        // Half-width katakana become full-width, voiced marks joined.
        assert_eq!(normalise("ｶﾞｷﾞ"), "ガギ");
    }
}
