//! Values whose meaning lives in rules (a health class, a tier, a rights
//! action) are enums; the database and the APIs carry them by name. One
//! macro gives each such enum its names: `as_str`, `Display` and a
//! `FromStr` whose error says what was expected.

/// A text that names none of a type's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {what}: {got:?} (one of {})", expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub got: String,
    pub expected: &'static [&'static str],
}

/// `text_enum!(Type, "what it is", Variant => "name", …)`: `as_str`,
/// `Display` (padding honoured) and `FromStr` (error: [`UnknownName`]).
#[macro_export]
macro_rules! text_enum {
    ($t:ty, $what:literal, $($v:ident => $s:literal),* $(,)?) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl ::std::str::FromStr for $t {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::UnknownName> {
                match s {
                    $($s => Ok(Self::$v),)*
                    other => Err($crate::UnknownName {
                        what: $what,
                        got: other.to_string(),
                        expected: &[$($s),*],
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Colour {
        Red,
        Blue,
    }
    crate::text_enum!(Colour, "colour", Red => "red", Blue => "blue");

    #[test]
    fn names_round_trip_and_an_unknown_one_says_what_was_expected() {
        for c in [Colour::Red, Colour::Blue] {
            assert_eq!(c.as_str().parse::<Colour>(), Ok(c));
        }
        assert_eq!(format!("{:<5}|", Colour::Red), "red  |");
        let e = "green".parse::<Colour>().expect_err("not a colour");
        assert_eq!(e.to_string(), "not a colour: \"green\" (one of red, blue)");
    }
}
