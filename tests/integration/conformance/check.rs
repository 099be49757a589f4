//! The table's vocabulary: a check is numbered and made of calls; a call is a request (method,
//! path with query, key, content type, body), what to remember from its answer, how often to
//! send it, and the assertions on its answer. `{NAME}` in a path or body, and in an expected
//! value, is what an earlier call of the same check remembered as `NAME`.

use serde_json::Value;

/// One fact of §7.
pub(crate) struct Check {
    pub(crate) number: u8,
    pub(crate) calls: &'static [Call],
}

/// Which `x-api-key` a call sends.
#[derive(Clone, Copy)]
pub(crate) enum Key {
    Right,
    Missing,
    Wrong,
}

/// One request and what its answer must be.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) key: Key,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Option<&'static str>,
    /// `(NAME, JSON pointer)`: remembered from the answer's body.
    pub(crate) save: &'static [(&'static str, &'static str)],
    /// Sent again (at most this many times in all) until every assertion holds.
    pub(crate) until: u32,
    /// Sent this many times, each answer asserted.
    pub(crate) times: u32,
    pub(crate) expect: &'static [Expect],
}

/// An assertion on an answer.
#[derive(Clone, Copy)]
pub(crate) enum Expect {
    Status(u16),
    /// The body is exactly these bytes.
    Text(&'static str),
    /// The value at a JSON pointer equals this JSON (after `{NAME}`s are filled in).
    Is(&'static str, &'static str),
    /// The value at a JSON pointer is not this JSON.
    IsNot(&'static str, &'static str),
    /// Nothing is at this pointer.
    Absent(&'static str),
    /// Something (not `null`) is at this pointer.
    Present(&'static str),
    /// A header has this value.
    Header(&'static str, &'static str),
    /// Two remembered values differ.
    Differ(&'static str, &'static str),
    /// The list at a pointer has an item holding every key and value of this JSON object.
    Lists(&'static str, &'static str),
    /// The list at a pointer has no such item.
    Lacks(&'static str, &'static str),
    /// A property of the whole body, named.
    Holds(&'static str, fn(&Value) -> bool),
}

impl Call {
    const fn new(method: &'static str, path: &'static str) -> Self {
        Self {
            method,
            path,
            key: Key::Right,
            content_type: None,
            body: None,
            save: &[],
            until: 1,
            times: 1,
            expect: &[Expect::Status(200)],
        }
    }

    /// A GET with the right key.
    pub(crate) const fn get(path: &'static str) -> Self {
        Self::new("GET", path)
    }

    /// A POST of this JSON body with the right key.
    pub(crate) const fn post(path: &'static str, body: &'static str) -> Self {
        let mut call = Self::new("POST", path);
        call.content_type = Some("application/json");
        call.body = Some(body);
        call
    }

    /// Any method, no body.
    pub(crate) const fn method(method: &'static str, path: &'static str) -> Self {
        Self::new(method, path)
    }

    pub(crate) const fn key(mut self, key: Key) -> Self {
        self.key = key;
        self
    }

    /// Sends this content type (`None`: none at all).
    pub(crate) const fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }

    /// Sends this body as it is.
    pub(crate) const fn body(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) const fn save(mut self, save: &'static [(&'static str, &'static str)]) -> Self {
        self.save = save;
        self
    }

    pub(crate) const fn until(mut self, attempts: u32) -> Self {
        self.until = attempts;
        self
    }

    pub(crate) const fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    pub(crate) const fn expect(mut self, expect: &'static [Expect]) -> Self {
        self.expect = expect;
        self
    }
}
