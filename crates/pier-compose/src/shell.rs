//! POSIX-shell-like word splitting for `command:` and `entrypoint:`
//! strings: whitespace separates words, single quotes are literal, double
//! quotes honour `\"`, `\\`, `\$` and `` \` ``, a backslash outside quotes
//! escapes the next character. No expansion of any kind.

/// Splits `s` into words; the error says what is unterminated.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some('\n') => {}
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(e) => word.push(e),
                    None => return Err("trailing backslash".to_string()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words() {
        assert_eq!(split("  a b\tc ").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split(r#"sh -c 'echo "hi there"; exit 1'"#).unwrap(),
            ["sh", "-c", r#"echo "hi there"; exit 1"#]
        );
        assert_eq!(
            split(r#"echo "a \"b\" \$HOME \n" c\ d"#).unwrap(),
            ["echo", r#"a "b" $HOME \n"#, "c d"]
        );
        assert_eq!(split("a '' b").unwrap(), ["a", "", "b"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split("x'y'\"z\"").unwrap(), ["xyz"]);
    }

    #[test]
    fn errors() {
        assert!(split("echo 'x").is_err());
        assert!(split("echo \"x").is_err());
        assert!(split("echo x\\").is_err());
    }
}
