//! The search scenario's messages: chat lines in Indonesian, English,
//! Chinese, Japanese, Korean and Thai, built from small phrase lists by a
//! seeded generator, so every run stores the same text and message `n` can
//! be made on its own. Chinese, Japanese and Thai run without spaces, as
//! they are written; Korean keeps its spaces between words, as it is
//! written. A few rare terms are planted at fixed places (ten messages each,
//! five of them in the searcher's chats; the very last message holds the
//! first), and a few common terms each land in about 1 message in 20.

use super::phrases::{CHINESE, ENGLISH, GROUP_NAMES, INDONESIAN, JAPANESE, KOREAN, THAI};

/// Terms found in exactly `RARE_PLANTS` messages each. None is a prefix of,
/// or prefixed by, any other word the corpus writes.
pub const RARE: &[&str] = &[
    "quokka", "bekantan", "tarsius", "zamrud", "kerinci", "wombat", "xylofon", "fjordur",
];
/// How many messages carry each rare term; the even-numbered plantings go
/// to the searcher's chats.
pub const RARE_PLANTS: u64 = 10;
/// The rare plantings a member of the searcher's chats finds, per term.
pub const RARE_FOR_SEARCHER: usize = RARE_PLANTS.div_ceil(2) as usize;
/// Terms each added to about 1 message in `COMMON_EVERY`.
pub const COMMON: &[&str] = &["penting", "update", "makasih"];
const COMMON_EVERY: u64 = 20;
/// Messages written in a language other than their chat's, 1 in this many.
const FOREIGN_EVERY: u64 = 7;
const SEED: u64 = 0x00C1_A70C_5EA2_C400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Language {
    Indonesian,
    English,
    Chinese,
    Japanese,
    Korean,
    Thai,
}

/// The share of chats in each language: a server in Indonesia with
/// neighbours and visitors.
const LANGUAGES: &[(Language, u64)] = &[
    (Language::Indonesian, 35),
    (Language::English, 25),
    (Language::Chinese, 10),
    (Language::Japanese, 10),
    (Language::Korean, 10),
    (Language::Thai, 10),
];

/// SplitMix64: small, fast and the same on every platform and version,
/// which is all a generator of test text needs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }

    fn language(&mut self) -> Language {
        let total: u64 = LANGUAGES.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.below(total);
        for &(language, weight) in LANGUAGES {
            if roll < weight {
                return language;
            }
            roll -= weight;
        }
        Language::Indonesian
    }
}

/// One message to send: the index of its chat and its text.
pub struct Message {
    pub chat: usize,
    pub text: String,
}

/// `messages` messages over `chats` chats; chats `0..searcher_chats` are
/// the searcher's.
pub struct Corpus {
    messages: u64,
    chats: usize,
    searcher_chats: usize,
    languages: Vec<Language>,
}

impl Corpus {
    /// Needs room for every rare planting (`RARE.len() * RARE_PLANTS`
    /// messages at least) and chats outside the searcher's.
    pub fn new(messages: u64, chats: usize, searcher_chats: usize) -> Self {
        assert!(messages >= RARE.len() as u64 * RARE_PLANTS && searcher_chats < chats);
        let languages = (0..chats)
            .map(|chat| SplitMix(SEED ^ (chat as u64).rotate_left(32)).language())
            .collect();
        Self {
            messages,
            chats,
            searcher_chats,
            languages,
        }
    }

    /// How many messages there are.
    pub fn count(&self) -> u64 {
        self.messages
    }

    /// Message `n` (`0..count`), the same on every call.
    pub fn message(&self, n: u64) -> Message {
        let mut rng = SplitMix(SEED ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let rare = self.rare_planting(n);
        let chat = match rare {
            Some((term, planting)) => self.rare_chat(term, planting),
            None => rng.below(self.chats as u64) as usize,
        };
        let language = if rng.below(FOREIGN_EVERY) == 0 {
            rng.language()
        } else {
            self.languages[chat]
        };
        let mut text = clause(&mut rng, language);
        if rng.below(10) < 3 {
            if !matches!(language, Language::Chinese | Language::Japanese) {
                text.push(' ');
            }
            text.push_str(&clause(&mut rng, language));
        }
        for term in COMMON {
            if rng.below(COMMON_EVERY) == 0 {
                text = if rng.below(2) == 0 {
                    format!("{term}: {text}")
                } else {
                    format!("{text} {term}")
                };
            }
        }
        if let Some((term, _)) = rare {
            text.push(' ');
            text.push_str(RARE[term]);
        }
        Message { chat, text }
    }

    /// A group's name for chat `index`.
    pub fn group_name(index: usize) -> String {
        format!(
            "{} {}",
            GROUP_NAMES[index % GROUP_NAMES.len()],
            index / 2 + 1
        )
    }

    /// Which rare term message `n` carries, and which of its plantings it
    /// is: they are spread evenly back from the last message.
    fn rare_planting(&self, n: u64) -> Option<(usize, u64)> {
        let terms = RARE.len() as u64;
        let stride = self.messages / (terms * RARE_PLANTS);
        let back = self.messages - 1 - n;
        let slot = back / stride;
        (back.is_multiple_of(stride) && slot < terms * RARE_PLANTS)
            .then(|| ((slot % terms) as usize, slot / terms))
    }

    /// Even plantings go to the searcher's chats, odd ones elsewhere.
    fn rare_chat(&self, term: usize, planting: u64) -> usize {
        let spread = term + planting as usize;
        if planting.is_multiple_of(2) {
            spread % self.searcher_chats
        } else {
            self.searcher_chats + (spread * 3) % (self.chats - self.searcher_chats)
        }
    }
}

fn clause(rng: &mut SplitMix, language: Language) -> String {
    let grammar = match language {
        Language::Indonesian => &INDONESIAN,
        Language::English => &ENGLISH,
        Language::Chinese => &CHINESE,
        Language::Japanese => &JAPANESE,
        Language::Korean => &KOREAN,
        Language::Thai => &THAI,
    };
    let words: Vec<&str> = grammar
        .slots
        .iter()
        .map(|slot| rng.pick(slot))
        .filter(|word| !word.is_empty())
        .collect();
    let mut text = words.join(if grammar.spaced { " " } else { "" });
    text.push_str(rng.pick(grammar.ends));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(corpus: &Corpus) -> Vec<Message> {
        (0..corpus.messages).map(|n| corpus.message(n)).collect()
    }

    #[test]
    fn the_same_message_comes_out_every_time() {
        let corpus = Corpus::new(2_000, 20, 10);
        let again = Corpus::new(2_000, 20, 10);
        for n in [0, 1, 999, 1_999] {
            let (one, two) = (corpus.message(n), again.message(n));
            assert_eq!((one.chat, &one.text), (two.chat, &two.text));
        }
        assert_ne!(corpus.message(1).text, corpus.message(2).text);
    }

    #[test]
    fn each_rare_term_is_in_ten_messages_five_of_them_the_searchers() {
        let corpus = Corpus::new(2_000, 20, 10);
        let messages = all(&corpus);
        for term in RARE {
            let carriers: Vec<&Message> = messages
                .iter()
                .filter(|message| message.text.contains(term))
                .collect();
            assert_eq!(carriers.len() as u64, RARE_PLANTS, "{term}");
            let searchers = carriers.iter().filter(|message| message.chat < 10).count();
            assert_eq!(searchers, RARE_FOR_SEARCHER, "{term}");
        }
        let last = messages.last().unwrap();
        assert!(
            last.text.ends_with(RARE[0]) && last.chat < 10,
            "{}",
            last.text
        );
    }

    #[test]
    fn common_terms_are_in_about_one_message_in_twenty() {
        let corpus = Corpus::new(20_000, 1_000, 50);
        let messages = all(&corpus);
        for term in COMMON {
            let count = messages.iter().filter(|m| m.text.contains(term)).count();
            assert!((800..=1_200).contains(&count), "{term}: {count}");
        }
    }

    #[test]
    fn every_language_is_written_and_cjk_and_thai_without_spaces() {
        let corpus = Corpus::new(20_000, 1_000, 50);
        let messages = all(&corpus);
        for probe in [
            "besok",
            "tomorrow",
            "会议资料",
            "会議の資料を",
            "회의 자료를",
            "รายงาน",
        ] {
            assert!(messages.iter().any(|m| m.text.contains(probe)), "{probe}");
        }
        let mut rng = SplitMix(1);
        for _ in 0..1_000 {
            for language in [Language::Chinese, Language::Japanese, Language::Thai] {
                let text = clause(&mut rng, language);
                assert!(!text.contains(' '), "{text}");
            }
            assert!(clause(&mut rng, Language::Korean).contains(' '));
        }
    }

    #[test]
    fn chats_are_in_every_language() {
        let corpus = Corpus::new(20_000, 1_000, 50);
        let kinds: std::collections::HashSet<Language> = corpus.languages.iter().copied().collect();
        assert_eq!(kinds.len(), LANGUAGES.len());
    }
}
