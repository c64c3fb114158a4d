//! Message search as text rules, shared by the index and by queries: how
//! text is normalised (`normalise`), cut into words and CJK runs and filed
//! under index terms (`tokenize`), and how a query is looked up and checked
//! (`query`). Pure functions: the index lives in the store, written in the
//! same transaction as the message; running a search is the rules' (`chat`).

pub mod normalise;
pub mod query;
pub mod tokenize;

pub use query::{Plan, QUERY_MAX_CHARS};

/// What a message is found by: its text (an attachment's caption) and, for
/// an attachment, its file name (`metadata.name`).
pub fn document(content: &str, attachment_metadata: Option<&str>) -> String {
    let name = attachment_metadata.and_then(file_name);
    match name {
        Some(name) if !content.is_empty() => format!("{content}\n{name}"),
        Some(name) => name,
        None => content.to_owned(),
    }
}

fn file_name(metadata: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: Option<String>,
    }
    serde_json::from_str::<Named>(metadata).ok()?.name
}

/// The index terms of a message's searchable text.
pub fn index_terms(document: &str) -> std::collections::BTreeSet<String> {
    tokenize::terms(&normalise::normalise(document))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_is_found_by_caption_and_file_name() {
        let metadata = r#"{"url":"/api/uploads/ab","name":"Laporan Kuartal.pdf","size":3}"#;
        let text = document("angka terbaru", Some(metadata));
        assert!(Plan::parse("laporan").matches(&text));
        assert!(Plan::parse("angka").matches(&text));
        assert!(Plan::parse("pdf").matches(&text));
        assert_eq!(document("", Some(metadata)), "Laporan Kuartal.pdf");
        assert_eq!(document("hi", Some("{\"url\":\"x\"}")), "hi");
        assert_eq!(document("hi", Some("not json")), "hi");
    }

    #[test]
    fn every_lookup_of_a_matching_query_is_among_the_index_terms() {
        let text = "Ketemu di Café KOPI 东京塔 ร้านกาแฟ pemberitahuan 5";
        let terms = index_terms(text);
        for query in ["cafe", "kop", "东京", "京塔", "กาแฟ", "pemberitahuan", "5"] {
            let plan = Plan::parse(query);
            assert!(plan.matches(text), "{query} matches");
            for lookup in plan.lookups() {
                assert!(terms.contains(lookup), "{query}: {lookup} is filed");
            }
        }
    }
}
