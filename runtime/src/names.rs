//! Instance names, interned: a name read at run time (from a file, from the environment) lives
//! as long as the instances it names, and each distinct name is stored once.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// `name` as a string of the process's lifetime. A `&'static str` is kept as it is; a
/// `String` is stored once per distinct name.
pub(crate) fn intern(name: impl Into<Cow<'static, str>>) -> &'static str {
    match name.into() {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => {
            static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
            let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(known) = names.get(name.as_str()) {
                return known;
            }
            let leaked: &'static str = Box::leak(name.into_boxed_str());
            names.insert(leaked);
            leaked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_read_at_run_time_is_stored_once() {
        let first = intern(String::from("payments-from-a-file"));
        let second = intern(format!("payments-{}", "from-a-file"));
        assert!(std::ptr::eq(first, second));
        assert_eq!(intern("static"), "static");
    }
}
