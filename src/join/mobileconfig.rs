//! The local authority as an iOS / iPadOS configuration profile, the one
//! form in which Safari offers to install a root certificate.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A profile that installs the root `certificate_der` named `name`.
pub fn profile(certificate_der: &[u8], name: &str) -> String {
    let content = base64::engine::general_purpose::STANDARD.encode(certificate_der);
    let digest = Sha256::digest(certificate_der);
    let short = hex::encode(&digest[..8]);
    let name = escape(name);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>PayloadCertificateFileName</key><string>clavox-ca.crt</string>
      <key>PayloadContent</key><data>{content}</data>
      <key>PayloadDescription</key><string>Lets this device open Clavox over HTTPS on your network.</string>
      <key>PayloadDisplayName</key><string>{name}</string>
      <key>PayloadIdentifier</key><string>local.clavox.authority.{short}</string>
      <key>PayloadType</key><string>com.apple.security.root</string>
      <key>PayloadUUID</key><string>{root_uuid}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDisplayName</key><string>{name}</string>
  <key>PayloadIdentifier</key><string>local.clavox.{short}</string>
  <key>PayloadRemovalDisallowed</key><false/>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{profile_uuid}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        root_uuid = uuid(&digest[..16]),
        profile_uuid = uuid(&digest[16..]),
    )
}

/// A UUID (version 4 layout) made from 16 bytes of the certificate's
/// digest: the same certificate always gives the same profile.
fn uuid(bytes: &[u8]) -> String {
    let mut bytes: [u8; 16] = bytes.try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode_upper(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_profile_carries_the_certificate_and_stable_ids() {
        let first = super::profile(b"certificate bytes", "Clavox on <box>");
        assert_eq!(
            first,
            super::profile(b"certificate bytes", "Clavox on <box>")
        );
        assert!(first.contains("<data>Y2VydGlmaWNhdGUgYnl0ZXM=</data>"));
        assert!(first.contains("Clavox on &lt;box&gt;"));
        assert!(first.contains("com.apple.security.root"));
    }
}
