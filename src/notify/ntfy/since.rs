//! The `since=` parameter: which cached messages a subscription starts with.

use super::event::looks_like_id;

/// Where a subscription starts in the topic's cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// No cached messages (`none`, and the default of a live stream).
    Nothing,
    /// Every cached message (`all`, and the default of `poll=1`).
    All,
    /// The newest cached message only (`latest`).
    Latest,
    /// Messages stamped at or after these Unix seconds (a timestamp, or
    /// a duration like `10m` counted back from now).
    Time(i64),
    /// Messages after the one with this id.
    Id(String),
}

/// `since=` held something that is none of the forms above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSince;

/// Reads `since=` as ntfy does: a keyword, a message id, a Unix timestamp or a
/// duration (`30s`, `10m`, `2h`, `1d`, or combined as `1h30m`). Without a
/// value a poll starts at the oldest message and a live stream at the next.
pub fn parse(value: Option<&str>, poll: bool, now: i64) -> Result<Since, InvalidSince> {
    let value = value.unwrap_or("").trim();
    match value {
        "" if poll => Ok(Since::All),
        "" | "none" => Ok(Since::Nothing),
        "all" => Ok(Since::All),
        "latest" => Ok(Since::Latest),
        // Ids come first, as in ntfy: a 12-digit number is an id, not a date.
        _ if looks_like_id(value) => Ok(Since::Id(value.to_owned())),
        _ => match value.parse::<i64>() {
            Ok(timestamp) => Ok(Since::Time(timestamp)),
            Err(_) => {
                let seconds = duration_seconds(value).ok_or(InvalidSince)?;
                Ok(Since::Time(now.saturating_sub(seconds)))
            }
        },
    }
}

/// Seconds in a duration made of `<digits><unit>` parts, units `s`, `m`,
/// `h` and `d`.
fn duration_seconds(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let amount: i64 = rest.get(..digits)?.parse().ok()?;
        let unit = rest.get(digits..=digits)?;
        let part = amount.checked_mul(unit_seconds(unit)?)?;
        total = total.checked_add(part)?;
        rest = rest.get(digits + 1..)?;
    }
    (!text.is_empty()).then_some(total)
}

fn unit_seconds(unit: &str) -> Option<i64> {
    match unit {
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86_400),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn live(value: &str) -> Result<Since, InvalidSince> {
        parse(Some(value), false, NOW)
    }

    #[test]
    fn without_a_value_a_live_stream_starts_now_and_a_poll_at_the_oldest() {
        assert_eq!(parse(None, false, NOW), Ok(Since::Nothing));
        assert_eq!(parse(None, true, NOW), Ok(Since::All));
        assert_eq!(parse(Some(""), true, NOW), Ok(Since::All));
    }

    #[test]
    fn keywords_are_read() {
        assert_eq!(live("all"), Ok(Since::All));
        assert_eq!(live("none"), Ok(Since::Nothing));
        assert_eq!(live("latest"), Ok(Since::Latest));
        assert_eq!(parse(Some("none"), true, NOW), Ok(Since::Nothing));
    }

    #[test]
    fn twelve_letters_and_digits_are_a_message_id() {
        assert_eq!(live("hBQ0FHaoa1Lx"), Ok(Since::Id("hBQ0FHaoa1Lx".into())));
        assert_eq!(live("123456789012"), Ok(Since::Id("123456789012".into())));
    }

    #[test]
    fn a_number_is_a_unix_timestamp() {
        assert_eq!(live("1635528757"), Ok(Since::Time(1_635_528_757)));
        assert_eq!(live("0"), Ok(Since::Time(0)));
    }

    #[test]
    fn a_duration_counts_back_from_now() {
        assert_eq!(live("10m"), Ok(Since::Time(NOW - 600)));
        assert_eq!(live("2h"), Ok(Since::Time(NOW - 7200)));
        assert_eq!(live("30s"), Ok(Since::Time(NOW - 30)));
        assert_eq!(live("1d"), Ok(Since::Time(NOW - 86_400)));
        assert_eq!(live("1h30m"), Ok(Since::Time(NOW - 5400)));
    }

    #[test]
    fn anything_else_is_invalid() {
        for value in [
            "m",
            "10x",
            "10m5",
            "-5m",
            "1.5h",
            "hBQ0FHaoa1L!",
            "99999999999999999999d",
            "ten",
        ] {
            assert_eq!(live(value), Err(InvalidSince), "{value}");
        }
    }
}
