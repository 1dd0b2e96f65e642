//! The part of Go's text/template that docker users write in `--format`:
//! `{{.State.Status}}`, `{{json .State}}`, `{{index .Config.Labels "k"}}`,
//! pipelines (`{{.Name | upper}}`), `{{if}}`/`{{range}}`/`{{with}}` with
//! `{{else}}`, `{{- -}}` trimming, and docker's helper functions (json,
//! join, split, upper, lower, title, truncate, pad) plus Go's builtins that
//! make sense on JSON (index, len, print, printf, println, not, and, or, eq,
//! ne). Templates run over [`Json`] values: inspect's object, or a ps row.
//! Variables (`$x`) and `define`/`template` are not supported: they are
//! refused at parse time with a message saying so.

mod eval;
mod value;

pub use value::Json;

/// A template that could not be parsed or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: executing {template:?}: {why}")]
    Exec { template: String, why: String },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// Commands joined by `|`; each command's result is the last argument of
/// the next.
type Pipeline = Vec<Command>;
type Command = Vec<Operand>;

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.` (path empty) or `.A.B`.
    Field(Vec<String>),
    Function(String),
    Literal(Json),
    Sub(Pipeline),
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let pieces = split_actions(source)?;
        let mut parser = Parser {
            pieces: pieces.into_iter().peekable(),
        };
        let (nodes, end) = parser.nodes()?;
        if let Some(end) = end {
            return Err(TemplateError::Parse(format!("unexpected {{{{{end}}}}}")));
        }
        Ok(Template {
            source: source.to_owned(),
            nodes,
        })
    }

    /// Runs the template over `data`.
    pub fn render(&self, data: &Json) -> Result<String, TemplateError> {
        let mut out = String::new();
        eval::run(&self.nodes, data, &mut out).map_err(|why| TemplateError::Exec {
            template: self.source.clone(),
            why,
        })?;
        Ok(out)
    }
}

/// Text, or the inside of one `{{ }}` with its trim markers applied.
enum Piece {
    Text(String),
    Action(String),
}

/// Cuts the source into text and actions, applying `{{-` and `-}}`.
fn split_actions(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[open + 2..];
        if let Some(after) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = after;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        let close =
            find_close(inner).ok_or_else(|| TemplateError::Parse("unclosed action".to_owned()))?;
        let mut action = &inner[..close];
        trim_next = false;
        if let Some(before) = action.strip_suffix(" -") {
            action = before;
            trim_next = true;
        }
        pieces.push(Piece::Action(action.trim().to_owned()));
        rest = &inner[close + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_owned()));
    }
    Ok(pieces)
}

/// The offset of the `}}` ending an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser<I: Iterator<Item = Piece>> {
    pieces: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = Piece>> Parser<I> {
    /// Nodes up to the end of input or an `{{else ...}}`/`{{end}}`, which is
    /// returned (without braces) for the caller to handle.
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let action = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action(a) => a,
            };
            if action.starts_with("/*") {
                continue;
            }
            let (keyword, rest) = action
                .split_once(char::is_whitespace)
                .unwrap_or((action.as_str(), ""));
            match keyword {
                "end" | "else" => return Ok((nodes, Some(action))),
                "if" | "range" | "with" => {
                    let pipeline = parse_pipeline(rest)?;
                    let node = self.block(keyword, pipeline)?;
                    nodes.push(node);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(TemplateError::Parse(format!(
                        "{{{{{keyword}}}}} is not supported"
                    )))
                }
                _ => nodes.push(Node::Action(parse_pipeline(&action)?)),
            }
        }
        Ok((nodes, None))
    }

    /// The body and else branch of a block whose opening action was read.
    fn block(&mut self, keyword: &str, pipeline: Pipeline) -> Result<Node, TemplateError> {
        let (body, end) = self.nodes()?;
        let mut otherwise = Vec::new();
        match end.as_deref() {
            Some("end") => {}
            Some("else") => {
                let (nodes, end) = self.nodes()?;
                if end.as_deref() != Some("end") {
                    return Err(unclosed(keyword));
                }
                otherwise = nodes;
            }
            // `{{else if X}}` is an if nested in the else branch that
            // shares the outer `{{end}}`.
            Some(other) if keyword == "if" && other.starts_with("else if ") => {
                let inner = parse_pipeline(&other["else if ".len()..])?;
                otherwise.push(self.block("if", inner)?);
            }
            _ => return Err(unclosed(keyword)),
        }
        Ok(match keyword {
            "if" => Node::If(pipeline, body, otherwise),
            "range" => Node::Range(pipeline, body, otherwise),
            _ => Node::With(pipeline, body, otherwise),
        })
    }
}

fn unclosed(keyword: &str) -> TemplateError {
    TemplateError::Parse(format!(
        "unexpected EOF: {{{{{keyword}}}}} without {{{{end}}}}"
    ))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(Json),
    Pipe,
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '|' | '(' | ')' => {
                chars.next();
                tokens.push(match c {
                    '|' => Token::Pipe,
                    '(' => Token::Open,
                    _ => Token::Close,
                });
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(TemplateError::Parse("unterminated quoted string".into()))
                        }
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => text.push('\n'),
                            Some((_, 't')) => text.push('\t'),
                            Some((_, c)) => text.push(c),
                            None => {
                                return Err(TemplateError::Parse(
                                    "unterminated quoted string".into(),
                                ))
                            }
                        },
                        Some((_, c)) => text.push(c),
                    }
                }
                tokens.push(Token::Literal(Json::String(text)));
            }
            '`' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(TemplateError::Parse("unterminated raw string".into())),
                        Some((_, '`')) => break,
                        Some((_, c)) => text.push(c),
                    }
                }
                tokens.push(Token::Literal(Json::String(text)));
            }
            _ => {
                let mut end = s.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '|' | '(' | ')' | '"' | '`') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(s[start..end].to_owned()));
            }
        }
    }
    Ok(tokens)
}

fn parse_pipeline(s: &str) -> Result<Pipeline, TemplateError> {
    let tokens = tokenize(s)?;
    let mut pos = 0;
    let pipeline = pipeline_at(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(TemplateError::Parse(format!("unexpected \")\" in {s:?}")));
    }
    Ok(pipeline)
}

fn pipeline_at(tokens: &[Token], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut pipeline = Vec::new();
    let mut command = Vec::new();
    while let Some(token) = tokens.get(*pos) {
        *pos += 1;
        match token {
            Token::Close => {
                *pos -= 1;
                break;
            }
            Token::Pipe => {
                if command.is_empty() {
                    return Err(TemplateError::Parse("missing command before \"|\"".into()));
                }
                pipeline.push(std::mem::take(&mut command));
            }
            Token::Open => {
                let inner = pipeline_at(tokens, pos)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    return Err(TemplateError::Parse("unclosed left paren".into()));
                }
                *pos += 1;
                command.push(Operand::Sub(inner));
            }
            Token::Literal(v) => command.push(Operand::Literal(v.clone())),
            Token::Word(w) => command.push(operand(w)?),
        }
    }
    if command.is_empty() {
        return Err(TemplateError::Parse("missing value for command".into()));
    }
    pipeline.push(command);
    Ok(pipeline)
}

fn operand(word: &str) -> Result<Operand, TemplateError> {
    if word == "." {
        return Ok(Operand::Field(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(TemplateError::Parse(format!("bad field {word:?}")));
        }
        return Ok(Operand::Field(parts));
    }
    if word.starts_with('$') {
        return Err(TemplateError::Parse(format!(
            "variables are not supported: {word}"
        )));
    }
    match word {
        "true" => return Ok(Operand::Literal(Json::Bool(true))),
        "false" => return Ok(Operand::Literal(Json::Bool(false))),
        "nil" => return Ok(Operand::Literal(Json::Null)),
        _ => {}
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return serde_json::from_str::<Json>(word.trim_start_matches('+'))
            .ok()
            .filter(|v| matches!(v, Json::Number(_)))
            .map(Operand::Literal)
            .ok_or_else(|| TemplateError::Parse(format!("bad number syntax: {word:?}")));
    }
    if eval::is_function(word) {
        return Ok(Operand::Function(word.to_owned()));
    }
    Err(TemplateError::Parse(format!(
        "function {word:?} not defined"
    )))
}

#[cfg(test)]
mod tests;
