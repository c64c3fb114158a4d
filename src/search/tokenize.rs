//! Normalised text cut into what search matches on, and the index terms
//! each piece is filed under.
//!
//! - Chinese, Japanese and Korean have no spaces between words: a run of
//!   their characters is filed under each overlapping pair (bigram), so any
//!   run of two or more characters can be looked up; a lone character
//!   (`猫!`) under itself.
//! - Thai, Lao, Khmer and Myanmar have no spaces either, but their words are
//!   found by icu_segmenter's word models (LSTM, compiled in; no dictionary).
//! - Every other script is cut into words at Unicode word boundaries
//!   (UAX #29). A word is filed under each of its prefixes of 2 to
//!   `PREFIX_CHARS` characters, so a prefix lookup is one exact term; a
//!   one-character word under itself only, so a one-character query finds
//!   that word alone, never every word starting with it.

use std::collections::BTreeSet;

use icu_segmenter::WordSegmenter;
use icu_segmenter::options::WordBreakInvariantOptions;
use unicode_segmentation::UnicodeSegmentation;

/// The longest prefix a word is filed under. A longer query word looks up
/// its first `PREFIX_CHARS` characters, and the candidates are checked
/// against the whole word (`query::Plan::matches`).
pub const PREFIX_CHARS: usize = 8;

/// Characters that Unicode word boundaries keep inside a word (`3.14`,
/// `don't`, `snake_case`) but that separate the words of a file name
/// (`laporan.pdf`) or an address: cut there too, in text and query alike.
const JOINERS: [char; 6] = ['.', '_', '\'', '\u{2019}', ':', '\u{00B7}'];

/// A piece of normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A word of a script written with spaces, or of Thai and its neighbours.
    Word(&'a str),
    /// A run of Chinese, Japanese or Korean characters.
    Run(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Chinese, Japanese, Korean.
    Cjk,
    /// Thai, Lao, Khmer, Myanmar: words found by the segmenter.
    Segmented,
    Other,
}

fn class(c: char) -> Class {
    match c {
        '\u{1100}'..='\u{11FF}'
        | '\u{2E80}'..='\u{2FDF}'
        | '\u{3005}'..='\u{3007}'
        | '\u{3021}'..='\u{3029}'
        | '\u{3031}'..='\u{3035}'
        | '\u{3041}'..='\u{30FA}'
        | '\u{30FC}'..='\u{30FF}'
        | '\u{3105}'..='\u{318F}'
        | '\u{31A0}'..='\u{31BF}'
        | '\u{31F0}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{A960}'..='\u{A97F}'
        | '\u{AC00}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}' => Class::Cjk,
        '\u{0E00}'..='\u{0EFF}' | '\u{1000}'..='\u{109F}' | '\u{1780}'..='\u{17FF}' => {
            Class::Segmented
        }
        _ => Class::Other,
    }
}

/// The pieces of `text` (already normalised), in order.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut current = None;
    for (at, c) in text.char_indices() {
        let kind = class(c);
        if current != Some(kind) {
            if let Some(previous) = current {
                cut(&text[start..at], previous, &mut pieces);
            }
            start = at;
            current = Some(kind);
        }
    }
    if let Some(last) = current {
        cut(&text[start..], last, &mut pieces);
    }
    pieces
}

fn cut<'a>(run: &'a str, kind: Class, pieces: &mut Vec<Piece<'a>>) {
    match kind {
        Class::Cjk => pieces.push(Piece::Run(run)),
        Class::Other => pieces.extend(
            run.unicode_words()
                .flat_map(|word| word.split(JOINERS))
                .filter(|word| !word.is_empty())
                .map(Piece::Word),
        ),
        Class::Segmented => {
            let segmenter = WordSegmenter::new_lstm(WordBreakInvariantOptions::default());
            let mut from = 0;
            for to in segmenter.segment_str(run).skip(1) {
                let word = &run[from..to];
                if word.chars().any(char::is_alphanumeric) {
                    pieces.push(Piece::Word(word));
                }
                from = to;
            }
        }
    }
}

/// The index terms of normalised `text`, each once.
pub fn terms(text: &str) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for piece in pieces(text) {
        match piece {
            Piece::Word(word) => word_terms(word, &mut terms),
            Piece::Run(run) => run_terms(run, &mut terms),
        }
    }
    terms
}

/// A word's prefixes of 2 to `PREFIX_CHARS` characters, or a
/// one-character word itself.
fn word_terms(word: &str, terms: &mut BTreeSet<String>) {
    let ends: Vec<usize> = word
        .char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .take(PREFIX_CHARS)
        .collect();
    if ends.len() == 1 {
        terms.insert(word.to_owned());
        return;
    }
    for &end in &ends[1..] {
        terms.insert(word[..end].to_owned());
    }
}

/// A run's overlapping pairs of characters, or a one-character run itself.
fn run_terms(run: &str, terms: &mut BTreeSet<String>) {
    if run.chars().nth(1).is_none() {
        terms.insert(run.to_owned());
        return;
    }
    terms.extend(bigrams(run).into_iter().map(str::to_owned));
}

/// The index term a query word is looked up under: itself when it is one
/// character, else its first 2 to `PREFIX_CHARS` characters.
pub fn lookup_term(word: &str) -> &str {
    match word.char_indices().nth(PREFIX_CHARS) {
        Some((end, _)) => &word[..end],
        None => word,
    }
}

/// The overlapping pairs of characters of `run` (none for one character).
pub fn bigrams(run: &str) -> Vec<&str> {
    let mut bounds: Vec<usize> = run.char_indices().map(|(at, _)| at).collect();
    bounds.push(run.len());
    bounds
        .windows(3)
        .map(|bound| &run[bound[0]..bound[2]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::normalise::normalise;

    fn words(text: &str) -> Vec<String> {
        pieces(&normalise(text))
            .into_iter()
            .map(|piece| match piece {
                Piece::Word(word) => format!("w:{word}"),
                Piece::Run(run) => format!("r:{run}"),
            })
            .collect()
    }

    #[test]
    fn scripts_are_cut_into_words_and_runs() {
        assert_eq!(words("Mau makan, kopi?"), ["w:mau", "w:makan", "w:kopi"]);
        assert_eq!(words("Laporan_Q3.pdf"), ["w:laporan", "w:q3", "w:pdf"]);
        assert_eq!(words("我住在东京塔附近"), ["r:我住在东京塔附近"]);
        assert_eq!(
            words("iPhone发布会 today"),
            ["w:iphone", "r:发布会", "w:today"]
        );
        assert_eq!(words("東京タワー"), ["r:東京タワー"]);
        assert_eq!(words("한국어 공부"), ["r:한국어", "r:공부"]);
    }

    #[test]
    fn thai_is_cut_into_its_words() {
        assert_eq!(
            words("ร้านกาแฟอยู่ใกล้บ้าน"),
            ["w:ร้าน", "w:กาแฟ", "w:อยู่", "w:ใกล้", "w:บ้าน"]
        );
    }

    #[test]
    fn words_are_filed_under_their_prefixes_from_two_characters() {
        let terms = terms("makan a");
        let expected: BTreeSet<String> = ["ma", "mak", "maka", "makan", "a"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(terms, expected);
        let long = super::terms("pemberitahuan");
        assert!(long.contains("pemberit"));
        assert!(!long.contains("pemberita"));
        assert_eq!(long.len(), PREFIX_CHARS - 1);
    }

    #[test]
    fn cjk_runs_are_filed_under_bigrams_and_lone_characters_under_themselves() {
        let terms = terms("东京塔 猫");
        let expected: BTreeSet<String> = ["东京", "京塔", "猫"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(terms, expected);
        assert_eq!(bigrams("东京塔"), ["东京", "京塔"]);
        assert_eq!(bigrams("𠀀𠀁"), ["𠀀𠀁"]);
    }

    #[test]
    fn a_long_query_word_is_looked_up_by_its_longest_filed_prefix() {
        assert_eq!(lookup_term("pemberitahuan"), "pemberit");
        assert_eq!(lookup_term("maka"), "maka");
        assert_eq!(lookup_term("ö"), "ö");
    }
}
