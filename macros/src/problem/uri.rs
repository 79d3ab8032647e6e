//! Syntax checks of RFC 9457 values: URI references (RFC 3986 §4.1) and member names (§3.2).

/// Whether `text` is a URI reference: only characters RFC 3986 allows, `%` followed by two
/// hex digits, and a well-formed scheme when there is one.
pub(crate) fn is_uri_reference(text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if i + 2 >= bytes.len()
                || !bytes[i + 1].is_ascii_hexdigit()
                || !bytes[i + 2].is_ascii_hexdigit()
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b)) {
            return false;
        }
        i += 1;
    }
    // A colon before any '/', '?' or '#' ends a scheme, which must be ALPHA *(ALPHA/DIGIT/+-.).
    let head = text.split(['/', '?', '#']).next().unwrap_or("");
    match head.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => true,
    }
}

/// Whether `name` is an extension member name RFC 9457 §3.2 recommends: a letter, then
/// letters, digits or `_`, three characters or more, and not a standard member.
pub(crate) fn is_member_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 3
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["type", "title", "status", "detail", "instance"].contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_references() {
        for ok in [
            "https://example.com/probs/out-of-credit",
            "insufficient-funds",
            "/probs/x",
            "about:blank",
            "tag:example.com,2026:x",
            "a%20b",
        ] {
            assert!(is_uri_reference(ok), "{ok}");
        }
        for bad in [
            "",
            "not a uri",
            "http://ex ample.com",
            "1http://x",
            "a%2",
            "a%zz",
            "é",
        ] {
            assert!(!is_uri_reference(bad), "{bad}");
        }
    }

    #[test]
    fn member_names() {
        assert!(is_member_name("balance"));
        assert!(is_member_name("account_id"));
        assert!(!is_member_name("id"));
        assert!(!is_member_name("0"));
        assert!(!is_member_name("needed-amount"));
        assert!(!is_member_name("status"));
    }
}
