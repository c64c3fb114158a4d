//! Recognising raster images by their first bytes and reading their size
//! from the header, so a file can only be served as an image if it is one,
//! and image messages carry dimensions the server measured itself.

/// The raster image types served inline.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// How many leading bytes the checks below need at most for PNG, GIF and
/// WebP; JPEG dimensions may sit further in, after metadata segments.
pub const HEAD_BYTES: usize = 64 * 1024;

pub fn is_image_type(content_type: &str) -> bool {
    IMAGE_TYPES.contains(&content_type)
}

/// Whether the bytes really are of the declared image type.
pub fn matches(content_type: &str, head: &[u8]) -> bool {
    match content_type {
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => head.starts_with(&[0xff, 0xd8, 0xff]),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        _ => true,
    }
}

/// Width and height from an image header, when they can be found.
pub fn dimensions(content_type: &str, head: &[u8]) -> Option<(u32, u32)> {
    match content_type {
        "image/png" => png(head),
        "image/gif" => gif(head),
        "image/jpeg" => jpeg(head),
        "image/webp" => webp(head),
        _ => None,
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

/// The IHDR chunk follows the signature: width and height at 16 and 20.
fn png(head: &[u8]) -> Option<(u32, u32)> {
    (head.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(head, 16)?, be32(head, 20)?))
}

/// The logical screen size follows the signature.
fn gif(head: &[u8]) -> Option<(u32, u32)> {
    Some((le16(head, 6)?, le16(head, 8)?))
}

/// Walks the segments to the first start-of-frame marker.
fn jpeg(head: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        while *head.get(at)? != 0xff {
            at += 1;
        }
        while *head.get(at)? == 0xff {
            at += 1;
        }
        let marker = *head.get(at)?;
        at += 1;
        match marker {
            // Start-of-frame markers (all but DHT, JPG and DAC) carry the size.
            0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => {
                return Some((be16(head, at + 5)?, be16(head, at + 3)?));
            }
            // Markers without a length.
            0x01 | 0xd0..=0xd9 => {}
            _ => at += usize::try_from(be16(head, at)?).ok()?,
        }
    }
}

fn webp(head: &[u8]) -> Option<(u32, u32)> {
    match head.get(12..16)? {
        b"VP8 " => Some((le16(head, 26)? & 0x3fff, le16(head, 28)? & 0x3fff)),
        b"VP8L" => {
            let bits = u32::from_le_bytes(head.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(head, 24)? + 1, le24(head, 27)? + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0,
    ];

    #[test]
    fn png_dimensions_come_from_ihdr() {
        assert!(matches("image/png", PNG));
        assert_eq!(dimensions("image/png", PNG), Some((3, 2)));
    }

    #[test]
    fn html_is_not_an_image() {
        let html = b"<!doctype html><script>alert(1)</script>";
        for image in IMAGE_TYPES {
            assert!(!matches(image, html), "{image}");
        }
        assert!(matches("application/pdf", html), "only images are checked");
    }

    #[test]
    fn gif_and_jpeg_and_webp_sizes_are_read() {
        let gif = b"GIF89a\x40\x01\xf0\x00";
        assert_eq!(dimensions("image/gif", gif), Some((320, 240)));
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, // APP0 with 2 bytes of data
            0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, // SOF0: 480 high, 640 wide
        ];
        assert_eq!(dimensions("image/jpeg", &jpeg), Some((640, 480)));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        vp8x.extend_from_slice(&[0; 8]);
        vp8x.extend_from_slice(&[99, 0, 0, 49, 0, 0]);
        assert_eq!(dimensions("image/webp", &vp8x), Some((100, 50)));
        assert_eq!(
            dimensions("image/jpeg", &[0xff, 0xd8, 0xff]),
            None,
            "truncated headers give nothing"
        );
    }
}
