//! QR codes of addresses: SVG for pages (`/join`, the ntfy topic), text
//! for the start-up banner.

use qrcode::QrCode;
use qrcode::render::{svg, unicode};

/// An inline `<svg>` element (no XML declaration) encoding `text`.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let start = image.find("<svg")?;
    Some(image[start..].to_owned())
}

/// Rows of half-block characters encoding `text`, light modules drawn, so
/// it reads on the usual dark terminal.
pub fn terminal(text: &str) -> Option<Vec<String>> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let rows = code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    Some(rows.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_renders_both_ways() {
        let svg = super::svg("https://192.168.1.20:5443/").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let rows = super::terminal("https://192.168.1.20:5443/").unwrap();
        assert!(rows.len() > 10);
        assert!(
            rows.iter()
                .all(|row| row.chars().count() == rows[0].chars().count())
        );
    }
}
