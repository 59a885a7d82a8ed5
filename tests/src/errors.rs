//! Looking into an error's chain of sources from a test: that a cause is kept as a typed
//! source, and that the text shown to the user names it once.

use std::error::Error;

/// The first of `e`'s sources (not `e` itself) that is a `T`; panics, showing the chain, when
/// none is.
pub fn source<'a, T: Error + 'static>(e: &'a (dyn Error + 'static)) -> &'a T {
    let mut cur = e.source();
    while let Some(s) = cur {
        if let Some(t) = s.downcast_ref::<T>() {
            return t;
        }
        cur = s.source();
    }
    panic!(
        "no {} among the sources of {e:?}",
        std::any::type_name::<T>()
    )
}

/// `shown` (the text the user sees) with `cause`'s text in it exactly once; panics otherwise.
pub fn names_once<'a>(shown: &'a str, cause: &dyn Error) -> &'a str {
    let text = cause.to_string();
    assert_eq!(
        shown.matches(&text).count(),
        1,
        "'{text}' must be named once in: {shown}"
    );
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn finds_a_typed_source_and_counts_its_text() {
        let e = Outer(std::io::Error::other("disk on fire"));
        let io: &std::io::Error = source(&e);
        assert_eq!(io.to_string(), "disk on fire");
        assert_eq!(names_once("outer: disk on fire", io), "outer: disk on fire");
    }

    #[test]
    #[should_panic(expected = "must be named once")]
    fn a_cause_named_twice_is_refused() {
        names_once("a: x: x", &std::io::Error::other("x"));
    }

    #[test]
    #[should_panic(expected = "fmt::Error among the sources")]
    fn a_missing_source_is_refused() {
        let e = Outer(std::io::Error::other("x"));
        let _: &std::fmt::Error = source(&e);
    }
}
