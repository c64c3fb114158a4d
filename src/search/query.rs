//! A search query as terms: which index terms every match is filed under
//! (the lookups), and the exact test a candidate must then pass, so that
//! the index narrows the search and never decides it: a bigram hit that is
//! not the whole run, or a prefix filed for a shorter word, is no match.

use super::normalise::normalise;
use super::tokenize::{Piece, bigrams, lookup_term, pieces};

/// The most characters a query may have, after trimming.
pub const QUERY_MAX_CHARS: usize = 200;

/// The most index terms intersected per query; the other terms are left to
/// the exact test, which checks them all. Longer terms go first: they are
/// the rarer ones.
const MAX_LOOKUPS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Words a match must have a word starting with (a one-character word:
    /// a word equal to it).
    words: Vec<String>,
    /// CJK runs a match must contain (one character: as a run of its own).
    runs: Vec<String>,
    lookups: Vec<String>,
}

impl Plan {
    /// The terms of `query` (not yet normalised). A query with no word in
    /// it (only punctuation, say) has no terms and matches nothing.
    pub fn parse(query: &str) -> Self {
        let text = normalise(query);
        let mut plan = Self {
            words: Vec::new(),
            runs: Vec::new(),
            lookups: Vec::new(),
        };
        for piece in pieces(&text) {
            match piece {
                Piece::Word(word) => {
                    push_once(&mut plan.lookups, lookup_term(word));
                    push_once(&mut plan.words, word);
                }
                Piece::Run(run) => {
                    let pairs = bigrams(run);
                    if pairs.is_empty() {
                        push_once(&mut plan.lookups, run);
                    }
                    for pair in pairs {
                        push_once(&mut plan.lookups, pair);
                    }
                    push_once(&mut plan.runs, run);
                }
            }
        }
        plan.lookups
            .sort_by_key(|term| std::cmp::Reverse(term.chars().count()));
        plan.lookups.truncate(MAX_LOOKUPS);
        plan
    }

    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty()
    }

    /// Index terms every match is filed under.
    pub fn lookups(&self) -> &[String] {
        &self.lookups
    }

    /// The terms as they are matched (normalised), for highlighting.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.words.iter().chain(&self.runs).map(String::as_str)
    }

    /// Whether `document` (a message's searchable text, not yet
    /// normalised) matches every term.
    pub fn matches(&self, document: &str) -> bool {
        let text = normalise(document);
        let pieces = pieces(&text);
        let has_word = |term: &str| {
            let single = term.chars().nth(1).is_none();
            pieces.iter().any(|piece| match piece {
                Piece::Word(word) if single => *word == term,
                Piece::Word(word) => word.starts_with(term),
                Piece::Run(_) => false,
            })
        };
        let has_run = |term: &str| {
            if term.chars().nth(1).is_some() {
                return text.contains(term);
            }
            pieces
                .iter()
                .any(|piece| matches!(piece, Piece::Run(run) if *run == term))
        };
        !self.is_empty()
            && self.words.iter().all(|word| has_word(word))
            && self.runs.iter().all(|run| has_run(run))
    }
}

fn push_once(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|present| present == item) {
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::Plan;

    fn finds(query: &str, text: &str) -> bool {
        Plan::parse(query).matches(text)
    }

    #[test]
    fn the_contract_examples_match() {
        assert!(finds("kopi", "Ada KOPI?"));
        assert!(finds("cafe", "Ketemu di café jam 5"));
        assert!(finds("ｋｏｐｉ", "kopi susu"));
        assert!(finds("东京", "我住在东京塔附近"));
        assert!(finds("maka", "ayo makan"));
    }

    #[test]
    fn every_term_must_match() {
        assert!(finds("kopi susu", "susu dan kopi"));
        assert!(!finds("kopi teh", "susu dan kopi"));
    }

    #[test]
    fn a_prefix_must_start_a_word_and_one_character_finds_only_itself() {
        assert!(!finds("akan", "ayo makan"));
        assert!(!finds("m", "ayo makan"));
        assert!(finds("5", "jam 5 sore"));
        assert!(!finds("5", "jam 55"));
    }

    #[test]
    fn a_cjk_run_is_matched_whole_never_by_its_bigrams_alone() {
        // Both bigrams of 东京塔 are here, but not the run.
        assert!(!finds("东京塔", "东京和京塔"));
        assert!(finds("东京塔", "在东京塔附近"));
        assert!(finds("タワー", "東京タワーに行く"));
        assert!(!finds("京", "东京"));
        assert!(finds("猫", "猫!"));
    }

    #[test]
    fn a_word_longer_than_its_filed_prefix_is_checked_whole() {
        let plan = Plan::parse("pemberitahuan");
        assert_eq!(plan.lookups(), ["pemberit"]);
        assert!(plan.matches("Pemberitahuan penting"));
        assert!(!plan.matches("pemberitaan"));
    }

    #[test]
    fn thai_is_found_by_its_words() {
        assert!(finds("กาแฟ", "ร้านกาแฟอยู่ใกล้บ้าน"));
        assert!(finds("บ้าน ร้าน", "ร้านกาแฟอยู่ใกล้บ้าน"));
        assert!(!finds("ชา", "ร้านกาแฟอยู่ใกล้บ้าน"));
    }

    #[test]
    fn a_query_of_punctuation_has_no_terms_and_finds_nothing() {
        let plan = Plan::parse("?!…");
        assert!(plan.is_empty());
        assert!(!plan.matches("?!…"));
    }

    #[test]
    fn lookups_are_few_and_longest_first() {
        let plan = Plan::parse("一二三四五六七八九十一二三四五六七八九十 maka");
        assert_eq!(plan.lookups().len(), 8);
        assert_eq!(plan.lookups()[0], "maka");
    }
}
