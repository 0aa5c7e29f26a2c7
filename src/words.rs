//! Closed sets of words and suggestions for a word outside its set: the
//! base that the scenario's keywords and the retry policies' names are
//! declared with (one declaration gives the enum, its words, parsing with a
//! "did you mean", serde with the same strings and the schema's list).

/// "; did you mean `x`?" for the allowed name nearest `bad` (as written,
/// else in lower case: `DELAY` -> `delay`), or nothing when none is near:
/// the one suggestion every "not allowed" message of the loader appends.
pub fn did_you_mean(bad: &str, allowed: &[&str]) -> String {
    nearest(bad, allowed)
        .or_else(|| nearest(&bad.to_lowercase(), allowed))
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

/// The allowed name closest to `bad`, if it is close enough to be a typo.
pub fn nearest<'a>(bad: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(bad, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min()
        .map(|(_, a)| a)
        .or_else(|| shortened(bad, allowed))
}

/// The one allowed word that `bad` begins (`expo`: `exponential`) or is a
/// whole part of (`zipf`: `zipf-keys`, `reject`: `reject-publish`): a word
/// shortened, not misspelt. None when two words would fit.
fn shortened<'a>(bad: &str, allowed: &[&'a str]) -> Option<&'a str> {
    if bad.chars().count() < 3 {
        return None;
    }
    let mut fits = allowed
        .iter()
        .filter(|a| a.starts_with(bad) || a.split('-').any(|part| part == bad));
    match (fits.next(), fits.next()) {
        (Some(one), None) => Some(*one),
        _ => None,
    }
}

/// The words, quoted and separated by commas: `"head", "anywhere"`.
pub fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message for a word outside its set, with the nearest word.
pub fn not_allowed(word: &str, allowed: &[&str]) -> String {
    let hint = did_you_mean(word, allowed);
    format!(
        "`{}` is not allowed{hint} (allowed: {})",
        crate::names::printable(word),
        allowed.join(", ")
    )
}

/// Declares a closed set of words (a scenario's `kind = "partition"`, a
/// retry policy's `backoff = "exponential"`). Each variant is written with
/// its word; the words' order is the order messages and the schema list.
macro_rules! keywords {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in the order of [`Self::WORDS`].
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The words a scenario writes, one per variant.
            pub const WORDS: &'static [&'static str] = &[$($word,)+];

            /// The word a scenario writes for this variant.
            pub fn word(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The variant a scenario's word names.
            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.word() == word)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.word())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.word())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                /// Reads a word; anything else (a number, a table) is
                /// refused with the words it could have been.
                struct Word;
                impl<'de> serde::de::Visitor<'de> for Word {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "one of the words {}", $crate::words::quoted($name::WORDS))
                    }
                    fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<$name, E> {
                        $name::parse(word).ok_or_else(|| {
                            E::custom($crate::words::not_allowed(word, $name::WORDS))
                        })
                    }
                }
                d.deserialize_str(Word)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": Self::WORDS })
            }
        }
    };
}

pub(crate) use keywords;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortened_word_is_suggested_when_only_one_fits() {
        let words = ["uniform-keys", "zipf-keys"];
        assert_eq!(nearest("zipf", &words), Some("zipf-keys"));
        assert_eq!(nearest("uniform", &words), Some("uniform-keys"));
        let backoffs = ["none", "exponential", "sidekiq", "sidekiq-7", "sidekiq-5"];
        assert_eq!(nearest("expo", &backoffs), Some("exponential"));
        // Two words begin so: no guess.
        assert_eq!(shortened("sidekiq-", &backoffs), None);
        // Too short to tell.
        assert_eq!(shortened("ex", &backoffs), None);
        assert_eq!(
            did_you_mean("reject", &["reject-publish", "drop-head"]),
            "; did you mean `reject-publish`?"
        );
    }
}
