//! The web app's languages say the same things: every English string has an
//! Indonesian one and back, with the same placeholders. Plural forms are
//! counted by their base key, since Indonesian uses only `.other`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `key -> placeholders` of one language file (`'key': 'text',` lines).
fn strings(language: &str) -> BTreeMap<String, BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("web/js/i18n/{language}.js"));
    let source = std::fs::read_to_string(&path).unwrap();
    let mut strings = BTreeMap::new();
    for line in source.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix('\'') else {
            continue;
        };
        let (key, text) = rest.split_once("': ").unwrap_or_else(|| panic!("{line}"));
        let base = key
            .strip_suffix(".one")
            .or_else(|| key.strip_suffix(".other"))
            .unwrap_or(key);
        let placeholders = strings.entry(base.to_owned()).or_insert_with(BTreeSet::new);
        placeholders.extend(
            text.split('{')
                .skip(1)
                .filter_map(|part| part.split_once('}'))
                .map(|(name, _)| name.to_owned()),
        );
    }
    assert!(
        strings.len() > 100,
        "{language}.js was not read: {strings:?}"
    );
    strings
}

#[test]
fn english_and_indonesian_have_the_same_keys_and_placeholders() {
    let (english, indonesian) = (strings("en"), strings("id"));
    let only_english: Vec<_> = english
        .keys()
        .filter(|key| !indonesian.contains_key(*key))
        .collect();
    let only_indonesian: Vec<_> = indonesian
        .keys()
        .filter(|key| !english.contains_key(*key))
        .collect();
    assert!(
        only_english.is_empty(),
        "missing in id.js: {only_english:?}"
    );
    assert!(
        only_indonesian.is_empty(),
        "missing in en.js: {only_indonesian:?}"
    );
    for (key, placeholders) in &english {
        assert_eq!(placeholders, &indonesian[key], "placeholders of {key}");
    }
}
