//! Fuzzes the SOPS parser and decryptor: any bytes, any format, must give
//! Ok or an error, never a panic, a hang or an abort. A successfully parsed
//! plaintext must also survive emit -> parse.
#![no_main]

use clef_sops::{DataKey, EncryptedFile, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes([7u8; 32]);
    for format in [Format::Yaml, Format::Json, Format::Dotenv] {
        if let Ok(f) = EncryptedFile::parse(data, format) {
            let _ = f.unencrypted_values();
            let _ = f.decrypt_unchecked(key.clone());
            let _ = f.to_bytes();
        }
        if let Ok(docs) = clef_sops::parse_plain(data, format)
            && let Ok(out) = clef_sops::emit_plain(&docs, format)
        {
            let _ = clef_sops::parse_plain(&out, format);
        }
    }
});
