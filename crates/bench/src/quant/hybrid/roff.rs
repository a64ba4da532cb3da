//! Man page source (roff with the `man` macros, a little `mdoc`) to plain paragraphs.
//!
//! Not a roff formatter: requests that format (`.nf`, `.in`, `.ft`, conditionals, macro and
//! string definitions) are dropped, the font and text macros (`.B`, `.BR`, `.IP` tags, …)
//! give their arguments as text, escapes become the characters they print (`\-` a hyphen,
//! `\(em` a dash, fonts and sizes nothing), and paragraph macros, headings and blank lines
//! end a paragraph. Good enough to turn `.BR open (2)` into `open(2)` and an `.SH ERRORS`
//! list into sentences that name `EACCES`.

/// The paragraphs of a man page's roff source, each its words joined by single spaces.
pub fn paragraphs(source: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let mut skip_until_dots = false;
    for line in logical_lines(source) {
        if skip_until_dots {
            if line.trim_end() == ".." {
                skip_until_dots = false;
            }
            continue;
        }
        let Some(request) = line.strip_prefix(['.', '\'']) else {
            if line.trim().is_empty() {
                end_paragraph(&mut paragraphs, &mut current);
            } else {
                push_text(&mut current, &unescape(&line));
            }
            continue;
        };
        let request = request.trim_start();
        if request.starts_with("\\\"") || request.starts_with('"') || request.is_empty() {
            continue; // a comment, or a lone `.`
        }
        let (name, rest) = request
            .split_once(char::is_whitespace)
            .unwrap_or((request, ""));
        match name {
            "de" | "de1" | "am" | "ig" => skip_until_dots = true,
            // Paragraph breaks; their arguments (if any) are layout, not text.
            "PP" | "P" | "LP" | "TP" | "TQ" | "HP" | "sp" | "bp" | "EX" | "EE" | "RS" | "RE"
            | "Pp" | "Bl" | "El" | "Bd" | "Ed" => end_paragraph(&mut paragraphs, &mut current),
            // Headings end a paragraph and are left out: `DESCRIPTION`, `ERRORS`, … name no
            // topic.
            "SH" | "SS" | "Sh" | "Ss" | "TH" | "Dt" | "Dd" | "Os" => {
                end_paragraph(&mut paragraphs, &mut current);
            }
            // An indented paragraph whose tag (an option, an error name) is text.
            "IP" => {
                end_paragraph(&mut paragraphs, &mut current);
                if let Some(tag) = arguments(rest).into_iter().next() {
                    push_text(&mut current, &tag);
                }
            }
            "It" => {
                end_paragraph(&mut paragraphs, &mut current);
                push_text(&mut current, &mdoc_text(&arguments(rest)));
            }
            // Alternating fonts: the arguments joined without spaces (`open (2)` → `open(2)`).
            "BR" | "RB" | "BI" | "IB" | "IR" | "RI" => {
                push_text(&mut current, &arguments(rest).concat());
            }
            "B" | "I" | "R" | "SM" | "SB" | "OP" | "SY" | "MT" => {
                push_text(&mut current, &arguments(rest).join(" "));
            }
            "Fl" => {
                let mut words = vec!["Fl".to_owned()];
                words.extend(arguments(rest));
                push_text(&mut current, &mdoc_text(&words));
            }
            name if MDOC_MACROS.contains(&name) => {
                push_text(&mut current, &mdoc_text(&arguments(rest)));
            }
            // Everything else formats (`nf`, `fi`, `in`, `ft`, `if`, `ds`, `nr`, `UR`, …).
            _ => {}
        }
    }
    end_paragraph(&mut paragraphs, &mut current);
    paragraphs
}

/// mdoc's text macros, which also appear as arguments of each other (`.It Fl b Ar bits`).
const MDOC_MACROS: &[&str] = &[
    "Ar", "Cm", "Dq", "Dv", "Em", "Er", "Ev", "Fa", "Fl", "Fn", "Ft", "Ic", "Li", "Nd", "Nm", "Ns",
    "Op", "Pa", "Pq", "Ql", "Sq", "Sy", "Va", "Xr",
];

/// The text of an mdoc macro's arguments: macro names left out, and `Fl x` as `-x`.
fn mdoc_text(arguments: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut flag = false;
    for argument in arguments {
        if argument == "Fl" {
            flag = true;
        } else if !MDOC_MACROS.contains(&argument.as_str()) {
            words.push(if flag {
                format!("-{argument}")
            } else {
                argument.clone()
            });
            flag = false;
        }
    }
    if flag {
        words.push("-".to_owned());
    }
    words.join(" ")
}

/// The source's lines with `\` + newline continuations joined.
fn logical_lines(source: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in source.lines() {
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            pending.push_str(&line[..line.len() - 1]);
        } else {
            pending.push_str(line);
            lines.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        lines.push(pending);
    }
    lines
}

fn push_text(current: &mut String, text: &str) {
    for word in text.split_whitespace() {
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
}

fn end_paragraph(paragraphs: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        paragraphs.push(std::mem::take(current));
    }
}

/// A macro's arguments: split at blanks, `"…"` quoting (`""` inside is a quote), unescaped.
fn arguments(rest: &str) -> Vec<String> {
    let mut arguments = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else { break };
        let mut raw = String::new();
        if first == '"' {
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.next_if_eq(&'"').is_some() {
                        raw.push('"');
                        continue;
                    }
                    break;
                }
                raw.push(c);
            }
        } else {
            raw.push(first);
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                raw.push(c);
            }
        }
        if raw.starts_with("\\\"") {
            break; // a comment ends the line
        }
        arguments.push(unescape(&raw));
    }
    arguments
}

/// The text a line of roff prints: escapes replaced by their characters or removed.
pub fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(escape) = chars.next() else { break };
        match escape {
            '"' | '#' => break, // a comment to the end of the line
            '-' => out.push('-'),
            'e' | '\\' => out.push('\\'),
            '.' | '\'' | '`' => out.push(escape),
            ' ' | '~' | '0' | 't' => out.push(' '),
            '(' => {
                let name: String = chars.by_ref().take(2).collect();
                out.push_str(glyph(&name));
            }
            '[' => {
                let name = take_until(&mut chars, ']');
                out.push_str(glyph(&name));
            }
            '*' => {
                let name = register_name(&mut chars);
                out.push_str(match name.as_str() {
                    "lq" | "rq" | "L\"" | "R\"" | "Lq" | "Rq" => "\"",
                    "Aq" | "aq" => "'",
                    "R" => "(R)",
                    "Tm" => "(TM)",
                    _ => "",
                });
            }
            'f' | 'F' | 'n' | 'g' | 'k' | 'm' | 'M' | 'V' | 'Y' | '$' => {
                register_name(&mut chars);
            }
            's' => {
                // \s+N, \s-N, \sN, \s(NN, \s[N], \s'N'
                chars.next_if(|c| *c == '+' || *c == '-');
                match chars.peek() {
                    Some('(') => {
                        chars.next();
                        chars.by_ref().take(2).for_each(drop);
                    }
                    Some('[') => {
                        chars.next();
                        take_until(&mut chars, ']');
                    }
                    Some('\'') => {
                        chars.next();
                        take_until(&mut chars, '\'');
                    }
                    _ => while chars.next_if(char::is_ascii_digit).is_some() {},
                }
            }
            // Escapes with a delimited argument: \h'…', \w'…', \N'…', \X'…', ….
            'h' | 'v' | 'w' | 'o' | 'b' | 'l' | 'L' | 'D' | 'N' | 'X' | 'Z' | 'x' | 'R' | 'C'
            | 'A' | 'B' | 'H' | 'S' => {
                if let Some(delimiter) = chars.next() {
                    let argument = take_until(&mut chars, delimiter);
                    if escape == 'N' || escape == 'C' {
                        out.push_str(glyph(&argument));
                    }
                }
            }
            // Zero-width and layout escapes.
            '&' | '|' | '^' | ')' | '%' | 'c' | ':' | '/' | ',' | '{' | '}' | '!' | 'd' | 'u'
            | 'r' | 'p' | 'a' | 'z' | 'E' => {}
            other => out.push(other),
        }
    }
    out
}

/// `\*x`, `\*(xx`, `\*[name]` and the like: the name after the escape character.
fn register_name(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    match chars.next() {
        Some('(') => chars.by_ref().take(2).collect(),
        Some('[') => take_until(chars, ']'),
        Some(c) => c.to_string(),
        None => String::new(),
    }
}

fn take_until(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, end: char) -> String {
    let mut taken = String::new();
    for c in chars.by_ref() {
        if c == end {
            break;
        }
        taken.push(c);
    }
    taken
}

/// The text of a named glyph (`\(em`, `\[aq]`); unknown glyphs print nothing.
fn glyph(name: &str) -> &'static str {
    match name {
        "em" | "en" | "hy" | "mi" | "-" | "-D" => "-",
        "aq" | "oq" | "cq" | "fm" => "'",
        "dq" | "lq" | "rq" | "Lq" | "Rq" => "\"",
        "ga" => "`",
        "ti" | "ap" => "~",
        "ha" | "a^" => "^",
        "rs" => "\\",
        "sl" => "/",
        "ba" | "or" => "|",
        "co" => "(C)",
        "rg" => "(R)",
        "tm" => "(TM)",
        "mu" => "x",
        "<=" => "<=",
        ">=" => ">=",
        "->" => "->",
        "<-" => "<-",
        "==" => "==",
        "!=" => "!=",
        "pl" => "+",
        "eq" => "=",
        "lB" => "[",
        "rB" => "]",
        "lC" => "{",
        "rC" => "}",
        "la" => "<",
        "ra" => ">",
        "at" => "@",
        "sh" => "#",
        "Do" => "$",
        "dg" | "bu" | "sq" | "ci" => "",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_escapes_and_paragraphs() {
        let source = r#".\" a comment
.TH OPEN 2 2023-02-05 "Linux man-pages 6.03"
.SH NAME
open, openat \- open and possibly create a file
.SH DESCRIPTION
The
.BR open ()
system call opens the file specified by
.IR pathname .
.PP
.B O_CREAT
makes it \fBexist\fP\(emunless
\fI\s-1EACCES\s0\fR says otherwise.\" trailing comment
.de XX
.nr ignored 1
..
.TP
.B \-\-max\-procs
long \
line joined
.IP "\fB\-v\fR" 4
Verbose.
"#;
        assert_eq!(
            paragraphs(source),
            [
                "open, openat - open and possibly create a file",
                "The open() system call opens the file specified by pathname.",
                "O_CREAT makes it exist-unless EACCES says otherwise.",
                "--max-procs long line joined",
                "-v Verbose.",
            ]
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for source in [
            "",
            "\\",
            ".",
            "'",
            ".BR",
            ".IP \"unterminated",
            "\\f",
            "\\s",
            "\\s(",
            "\\(",
            "\\[never closed",
            "\\h'never closed",
            "text\\",
            ".de X\nno end",
            "é\\(eé \\*[",
        ] {
            let _ = paragraphs(source);
        }
        assert_eq!(unescape("a\\(e"), "a");
        assert_eq!(
            paragraphs(".It Fl b Ar bits\nNumber of bits.\n.Nm ssh-keygen\n.Op Fl q"),
            ["-b bits Number of bits. ssh-keygen -q"]
        );
        assert_eq!(unescape("\\*(lqquoted\\*(rq"), "\"quoted\"");
    }
}
