//! open_clip's text cleaning (`_clean_lower`): `ftfy.fix_text`, HTML unescaping twice,
//! whitespace collapsing, lower-casing. The ftfy steps that change ordinary text are
//! reproduced (terminal escapes, C1 controls, ligatures, character width, curly quotes,
//! line breaks, control characters, NFC); its mojibake repair (`fix_encoding`) is not.

use unicode_normalization::UnicodeNormalization;

/// Cleans `text` the way open_clip does before byte-pair encoding.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = unescape(&unescape(&fixed));
    // Python's str.split() also splits on the information separators U+001C..U+001F.
    let collapsed: Vec<&str> = unescaped
        .split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|w| !w.is_empty())
        .collect();
    collapsed.join(" ").to_lowercase()
}

fn unescape(text: &str) -> String {
    if text.contains('&') {
        htmlize::unescape(text).into_owned()
    } else {
        text.to_string()
    }
}

/// The parts of `ftfy.fix_text` (ftfy 6, default configuration) that apply to text that is
/// not mojibake, in ftfy's order.
fn fix_text(text: &str) -> String {
    // ftfy unescapes HTML itself only when the text has no '<' (it is not markup).
    let text = if text.contains('<') {
        text.to_string()
    } else {
        unescape(text)
    };
    let text = remove_terminal_escapes(&text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // fix_c1_controls: C1 controls are Windows-1252 bytes decoded as Latin-1.
            '\u{80}'..='\u{9f}' => out.push(windows_1252(c)),
            // fix_latin_ligatures
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' => out.push_str("ſt"),
            '\u{fb06}' => out.push_str("st"),
            '\u{132}' => out.push_str("IJ"),
            '\u{133}' => out.push_str("ij"),
            '\u{149}' => out.push_str("ʼn"),
            '\u{1f1}' => out.push_str("DZ"),
            '\u{1f2}' => out.push_str("Dz"),
            '\u{1f3}' => out.push_str("dz"),
            '\u{1c4}' => out.push_str("DŽ"),
            '\u{1c5}' => out.push_str("Dž"),
            '\u{1c6}' => out.push_str("dž"),
            '\u{1c7}' => out.push_str("LJ"),
            '\u{1c8}' => out.push_str("Lj"),
            '\u{1c9}' => out.push_str("lj"),
            '\u{1ca}' => out.push_str("NJ"),
            '\u{1cb}' => out.push_str("Nj"),
            '\u{1cc}' => out.push_str("nj"),
            // fix_character_width: full-width ASCII, the ideographic space, half-width forms.
            '\u{3000}' => out.push(' '),
            '\u{ff01}'..='\u{ff5e}' => out.push(char::from_u32(c as u32 - 0xfee0).unwrap_or(c)),
            '\u{ff5f}'..='\u{ffef}' => out.extend(c.to_string().nfkc()),
            // uncurl_quotes
            '\u{2bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
            '\u{201c}'..='\u{201f}' => out.push('"'),
            // fix_line_breaks
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{2028}' | '\u{2029}' => out.push('\n'),
            // remove_control_chars
            c if is_removed_control(c) => {}
            c => out.push(c),
        }
    }
    out.nfc().collect()
}

/// ftfy's `CONTROL_CHARS`: characters it deletes outright.
fn is_removed_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e007f}')
}

/// The Windows-1252 character for a C1 control code point (itself where 1252 has a hole).
fn windows_1252(c: char) -> char {
    const TABLE: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    TABLE[(c as usize) - 0x80]
}

/// Removes ANSI terminal escapes (`ESC [ digits/; letter`).
fn remove_terminal_escapes(text: &str) -> String {
    if !text.contains('\u{1b}') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\u{1b}[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let params = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        match after[params..].chars().next() {
            Some(letter) if letter.is_ascii_alphabetic() => rest = &after[params + 1..],
            _ => {
                out.push_str("\u{1b}[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn cleaning_matches_open_clip_on_typical_cases() {
        assert_eq!(clean("  A  Photo\tof\na CAT "), "a photo of a cat");
        assert_eq!(clean("fish &amp;amp; chips"), "fish & chips");
        assert_eq!(clean("\u{201c}hi\u{201d}"), "\"hi\"");
        assert_eq!(clean("ＨＥＬＬＯ"), "hello");
        assert_eq!(clean("\u{fb01}ne"), "fine");
        assert_eq!(clean("e\u{301}"), "\u{e9}");
        assert_eq!(clean("a\u{1b}[31mred\u{1b}[0m"), "ared");
    }
}
