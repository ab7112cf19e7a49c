//! A small scanner over policy source: where each `fn NAME(` definition is, skipping
//! comments, strings and character literals.
//!
//! Rhai's public API names the functions an AST defines but not where they are, and a
//! policy author deserves "line 7, column 4" when `check` takes the wrong parameters. The
//! scanner also finds the lifecycle `notify` definition so it can be renamed before
//! compiling: Rhai resolves a call by name and arity, script functions first, so inside
//! `fn notify(action, policy)` the API call `notify(members, text)` would otherwise call
//! the policy's own `notify` again, forever. The rename changes no line and is undone in
//! every reported column.

/// One `fn NAME(` found in the source; `line` and `column` (1-based, in characters) are
/// those of NAME, `offset` its byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub line: u32,
    pub column: u32,
    pub offset: usize,
    /// How many parameters it declares.
    pub parameters: usize,
}

/// The `fn` definitions of `source`, in order.
pub fn definitions(source: &str) -> Vec<Definition> {
    let mut scanner = Scanner::new(source);
    let mut found = Vec::new();
    // The last two identifiers seen, with nothing but whitespace and comments between
    // them and the current position.
    let mut previous_fn = false;
    let mut pending: Option<Definition> = None;
    while let Some(token) = scanner.next_token() {
        match token {
            Token::Identifier {
                text,
                line,
                column,
                offset,
            } => {
                pending = None;
                if previous_fn {
                    pending = Some(Definition {
                        name: text.to_owned(),
                        line,
                        column,
                        offset,
                        parameters: 0,
                    });
                }
                previous_fn = text == "fn";
            }
            Token::Punctuation('(') => {
                if let Some(mut definition) = pending.take() {
                    // Parameters are plain names separated by commas.
                    while let Some(token) = scanner.next_token() {
                        match token {
                            Token::Identifier { .. } => definition.parameters += 1,
                            Token::Punctuation(')') => break,
                            _ => {}
                        }
                    }
                    found.push(definition);
                }
                previous_fn = false;
            }
            Token::Punctuation(_) | Token::Literal => {
                pending = None;
                previous_fn = false;
            }
        }
    }
    found
}

enum Token<'a> {
    Identifier {
        text: &'a str,
        line: u32,
        column: u32,
        offset: usize,
    },
    Punctuation(char),
    /// A string, character or number literal (its content never matters here).
    Literal,
}

struct Scanner<'a> {
    source: &'a str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'a> Scanner<'a> {
    fn new(source: &'a str) -> Self {
        Scanner {
            source,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.source[self.offset..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.source[self.offset..].chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.offset += next.len_utf8();
        if next == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(next)
    }

    fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            let next = self.peek()?;
            match next {
                _ if next.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek_second() == Some('/') => {
                    while let Some(skipped) = self.bump() {
                        if skipped == '\n' {
                            break;
                        }
                    }
                }
                '/' if self.peek_second() == Some('*') => self.skip_block_comment(),
                '"' => {
                    self.skip_quoted('"');
                    return Some(Token::Literal);
                }
                '\'' => {
                    self.skip_quoted('\'');
                    return Some(Token::Literal);
                }
                '`' => {
                    self.skip_back_ticked();
                    return Some(Token::Literal);
                }
                '#' if matches!(self.peek_second(), Some('"') | Some('#')) => {
                    self.skip_raw_string();
                    return Some(Token::Literal);
                }
                _ if next.is_ascii_alphabetic() || next == '_' => {
                    let (line, column, offset) = (self.line, self.column, self.offset);
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        self.bump();
                    }
                    return Some(Token::Identifier {
                        text: &self.source[offset..self.offset],
                        line,
                        column,
                        offset,
                    });
                }
                _ if next.is_ascii_digit() => {
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        self.bump();
                    }
                    return Some(Token::Literal);
                }
                _ => {
                    self.bump();
                    return Some(Token::Punctuation(next));
                }
            }
        }
    }

    /// Rhai block comments nest.
    fn skip_block_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(next) = self.bump() {
            match next {
                '/' if self.peek() == Some('*') => {
                    self.bump();
                    depth += 1;
                }
                '*' if self.peek() == Some('/') => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn skip_quoted(&mut self, quote: char) {
        self.bump();
        while let Some(next) = self.bump() {
            match next {
                '\\' => {
                    self.bump();
                }
                _ if next == quote => return,
                _ => {}
            }
        }
    }

    /// A back-ticked string; `${ ... }` interpolations may hold nested strings.
    fn skip_back_ticked(&mut self) {
        self.bump();
        while let Some(next) = self.bump() {
            match next {
                '`' => return,
                '$' if self.peek() == Some('{') => {
                    self.bump();
                    let mut depth = 1usize;
                    while depth > 0 {
                        match self.next_token() {
                            Some(Token::Punctuation('{')) => depth += 1,
                            Some(Token::Punctuation('}')) => depth -= 1,
                            Some(_) => {}
                            None => return,
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `#"..."#`, with any number of `#`.
    fn skip_raw_string(&mut self) {
        let mut hashes = 0usize;
        while self.peek() == Some('#') {
            self.bump();
            hashes += 1;
        }
        if self.peek() != Some('"') {
            return;
        }
        self.bump();
        while let Some(next) = self.bump() {
            if next == '"' {
                let mut closing = 0usize;
                while closing < hashes && self.peek() == Some('#') {
                    self.bump();
                    closing += 1;
                }
                if closing == hashes {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_definitions_and_skips_comments_and_strings() {
        let source = "// fn fake(\n/* fn also_fake( /* nested */ fn still_fake( */\nfn filter(action, policy) { \"fn not_this(\" }\n  private fn helper ( x ) { `fn nor_this( ${ \"fn nope(\" }` }\nfn check(a, p) { #\"fn raw(\"# ; 'x' }";
        let found = definitions(source);
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["filter", "helper", "check"]);
        assert_eq!((found[0].line, found[0].column), (3, 4));
        assert_eq!((found[1].line, found[1].column), (4, 14));
        assert_eq!(&source[found[2].offset..found[2].offset + 5], "check");
        let parameters: Vec<usize> = found.iter().map(|d| d.parameters).collect();
        assert_eq!(parameters, [2, 1, 2]);
    }
}
