//! Hiding secrets in what the API shows of the configuration.

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Whether a key names a secret (passwords, tokens, shared secrets).
fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    (k.contains("password") || k.contains("secret") || k == "token" || k.ends_with("_token"))
        && !k.ends_with("_file")
}

/// Replaces the value of every secret key, at any depth, with [`REDACTED`].
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if secret_key(k) && !val.is_null() {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The configuration as JSON with its secrets hidden.
pub fn config_json(cfg: &crate::config::Config) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or(Value::Null);
    redact(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_are_hidden_paths_are_not() {
        let cfg = crate::config::Config::parse(
            "[[relay.users]]\nname = \"alice\"\npassword = \"hunter2\"\n[mgmt]\ntoken = \"t0k\"\n",
        )
        .unwrap();
        let v = config_json(&cfg);
        let text = v.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("t0k"), "{text}");
        assert_eq!(v["relay"]["users"][0]["name"], "alice");
        assert_eq!(v["relay"]["users"][0]["password"], REDACTED);
        assert_eq!(v["mgmt"]["token"], REDACTED);
        assert!(v["mgmt"]["token_file"].is_null());
    }
}
