//! Printing what a guest chose: export, import, module and function names
//! are arbitrary UTF-8, and must never reach a terminal or a log as control
//! characters (a newline that fakes a second error line, an escape sequence
//! that recolours the terminal, a bidirectional override that reorders what
//! is shown).

use std::fmt;

/// A guest-chosen name for display: control characters, bidirectional and
/// zero-width formatting characters become `\u{..}`, and `\` becomes `\\`,
/// so that the output is one unambiguous line.
#[derive(Debug, Clone, Copy)]
pub struct GuestName<'a>(pub &'a str);

impl fmt::Display for GuestName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                c if is_unsafe(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// `text` with every control or formatting character escaped as `\u{..}`
/// (backslashes are left alone): for whole messages that may quote guest
/// names, such as a validator's error, before they are printed.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that change how text is shown rather than showing: C0 and C1
/// controls (newline and escape among them), and the zero-width and
/// bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_formatting_characters_are_escaped() {
        let name = "x\nerror: fake second line\x1b[31m";
        assert_eq!(
            GuestName(name).to_string(),
            "x\\u{a}error: fake second line\\u{1b}[31m"
        );
        assert_eq!(GuestName("a\\b\u{202e}c").to_string(), "a\\\\b\\u{202e}c");
        assert_eq!(GuestName("ünï code_1.2").to_string(), "ünï code_1.2");
        assert_eq!(escape_control("a\\b\r\n\u{85}"), "a\\b\\u{d}\\u{a}\\u{85}");
    }
}
