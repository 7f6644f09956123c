//! What `qnetd install` embeds of the LuCI views and the rpcd plugin: the repository's files
//! (the one source) without the bytes a router never needs, their comments and indentation.
//! Used by build.rs, which writes the embedded copies, and by the tests, which check and run
//! what is embedded. Conservative on purpose: whole lines only, never a token inside a line.
//!
//! - JavaScript: every line loses its leading spaces and tabs; lines that are then empty or a
//!   `//` comment go. A line break is kept after every line left, so automatic semicolon
//!   insertion sees the same breaks. Refused (`Err`) when a template literal or a `/* */`
//!   comment could span lines, where a line's start is not code.
//! - Shell (a `#!` first line): the shebang and the header comment (the first comment block,
//!   which says what the file is) stay; every later full-line comment and empty line goes.
//!   Refused when a heredoc could hold a line that looks like a comment.
//! - Anything else (the JSON files): unchanged.

/// The bytes to embed for repository file `name` (its path or file name) with text `text`.
pub fn embedded(name: &str, text: &str) -> Result<String, String> {
    if name.ends_with(".js") {
        js(text).map_err(|e| format!("{name}: {e}"))
    } else if text.starts_with("#!") {
        shell(text).map_err(|e| format!("{name}: {e}"))
    } else {
        Ok(text.to_string())
    }
}

fn js(text: &str) -> Result<String, String> {
    if text.contains('`') && text.lines().any(|l| l.matches('`').count() % 2 == 1) {
        return Err("a template literal may span lines".into());
    }
    if text.contains("/*") {
        return Err("a /* */ comment may span lines".into());
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = line.trim_start_matches([' ', '\t']);
        if code.is_empty() || code.starts_with("//") {
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    Ok(out)
}

fn shell(text: &str) -> Result<String, String> {
    if text.contains("<<") {
        return Err("a heredoc may hold lines that look like comments".into());
    }
    let mut out = String::with_capacity(text.len());
    let mut header = true;
    for line in text.lines() {
        let code = line.trim_start_matches([' ', '\t']);
        let comment = code.starts_with('#');
        header &= comment;
        if !header && (code.is_empty() || comment) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}
