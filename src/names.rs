//! Names and text from scenarios and the command line, made safe for file
//! names and terminals. A base layer: the loader names output files when
//! it checks variant names, and every report prints names.

/// Text from a scenario or the command line made safe to print: control
/// characters (escape sequences, newlines, NUL) are shown escaped, as
/// `\u{1b}`, so a name cannot move the cursor, set the terminal title or
/// forge a line of output.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A file name made safe from a scenario or variant name.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "scenario".into()
    } else {
        s
    }
}

/// A multi-line text made safe to print: as [`printable`], but line breaks
/// of the text itself are kept (names cannot hold one: the loader refuses
/// control characters in them).
pub fn printable_lines(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text.to_string();
    }
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}
