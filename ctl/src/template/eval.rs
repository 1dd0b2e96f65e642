//! Running a parsed template over a [`Json`] value, and the functions a
//! template may call.

use super::{Command, Json, Node, Operand, Pipeline};
use crate::format::go_quote;

/// Functions a template may name.
const FUNCTIONS: &[&str] = &[
    "json", "index", "len", "join", "split", "upper", "lower", "title", "truncate", "pad", "print",
    "printf", "println", "not", "and", "or", "eq", "ne",
];

pub fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

pub fn run(nodes: &[Node], dot: &Json, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&pipeline(p, dot)?.to_string()),
            Node::If(p, body, otherwise) => {
                if pipeline(p, dot)?.truthy() {
                    run(body, dot, out)?;
                } else {
                    run(otherwise, dot, out)?;
                }
            }
            Node::With(p, body, otherwise) => {
                let value = pipeline(p, dot)?;
                if value.truthy() {
                    run(body, &value, out)?;
                } else {
                    run(otherwise, dot, out)?;
                }
            }
            Node::Range(p, body, otherwise) => {
                let value = pipeline(p, dot)?;
                let items: Vec<&Json> = match &value {
                    Json::Null => Vec::new(),
                    Json::Array(items) => items.iter().collect(),
                    // Go ranges over a map in sorted key order.
                    Json::Object(members) => {
                        let mut sorted: Vec<&(String, Json)> = members.iter().collect();
                        sorted.sort_by(|a, b| a.0.cmp(&b.0));
                        sorted.into_iter().map(|(_, v)| v).collect()
                    }
                    other => return Err(format!("range can't iterate over {other}")),
                };
                if items.is_empty() {
                    run(otherwise, dot, out)?;
                }
                for item in items {
                    run(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

fn pipeline(p: &Pipeline, dot: &Json) -> Result<Json, String> {
    let mut piped = None;
    for command in p {
        piped = Some(self::command(command, dot, piped)?);
    }
    Ok(piped.unwrap_or_default())
}

fn command(command: &Command, dot: &Json, piped: Option<Json>) -> Result<Json, String> {
    let Some((head, rest)) = command.split_first() else {
        return Ok(Json::Null);
    };
    match head {
        Operand::Function(name) => {
            let mut args = rest
                .iter()
                .map(|o| operand(o, dot))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(name, args)
        }
        other => {
            if !rest.is_empty() || piped.is_some() {
                return Err("can't give argument to non-function".to_owned());
            }
            operand(other, dot)
        }
    }
}

fn operand(operand: &Operand, dot: &Json) -> Result<Json, String> {
    match operand {
        Operand::Field(path) => field(dot, path),
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Sub(p) => pipeline(p, dot),
        Operand::Function(name) => call(name, Vec::new()),
    }
}

/// `.A.B` from `dot`; a missing key is null (printed "<no value>").
fn field(dot: &Json, path: &[String]) -> Result<Json, String> {
    let mut current = dot;
    for name in path {
        current = match current {
            Json::Object(_) => match current.get(name) {
                Some(v) => v,
                None => return Ok(Json::Null),
            },
            Json::Null => return Ok(Json::Null),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    kind(other)
                ))
            }
        };
    }
    Ok(current.clone())
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "nil",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "map",
    }
}

fn arity(name: &str, args: &[Json], want: usize) -> Result<(), String> {
    if args.len() == want {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ))
    }
}

fn int_arg(name: &str, v: &Json) -> Result<i64, String> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{name}: {n} is not an integer")),
        other => Err(format!("{name}: expected an integer, got {}", kind(other))),
    }
}

fn call(name: &str, args: Vec<Json>) -> Result<Json, String> {
    let text = |v: &Json| v.to_string();
    let string = |s: String| Ok(Json::String(s));
    match name {
        "json" => {
            arity(name, &args, 1)?;
            string(args[0].to_compact())
        }
        "upper" | "lower" | "title" => {
            arity(name, &args, 1)?;
            let s = text(&args[0]);
            string(match name {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                _ => title(&s),
            })
        }
        "len" => {
            arity(name, &args, 1)?;
            let n = match &args[0] {
                Json::String(s) => s.len(),
                Json::Array(a) => a.len(),
                Json::Object(o) => o.len(),
                other => return Err(format!("len of {}", kind(other))),
            };
            Ok(Json::Number((n as u64).into()))
        }
        "join" => {
            arity(name, &args, 2)?;
            let items: Vec<String> = match &args[0] {
                Json::Array(items) => items.iter().map(text).collect(),
                Json::Null => Vec::new(),
                other => vec![text(other)],
            };
            string(items.join(&text(&args[1])))
        }
        "split" => {
            arity(name, &args, 2)?;
            let (s, sep) = (text(&args[0]), text(&args[1]));
            Ok(Json::Array(
                s.split(sep.as_str())
                    .map(|p| Json::String(p.to_owned()))
                    .collect(),
            ))
        }
        "truncate" => {
            arity(name, &args, 2)?;
            let s = text(&args[0]);
            let n = usize::try_from(int_arg(name, &args[1])?).unwrap_or(0);
            string(s.chars().take(n).collect())
        }
        "pad" => {
            arity(name, &args, 3)?;
            let left = usize::try_from(int_arg(name, &args[1])?).unwrap_or(0);
            let right = usize::try_from(int_arg(name, &args[2])?).unwrap_or(0);
            string(format!(
                "{}{}{}",
                " ".repeat(left),
                text(&args[0]),
                " ".repeat(right)
            ))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut current = first.clone();
            for key in keys {
                current = match (&current, key) {
                    (Json::Object(_), Json::String(k)) => {
                        current.get(k).cloned().unwrap_or_default()
                    }
                    (Json::Array(items), Json::Number(n)) => {
                        let i = n.as_u64().and_then(|i| usize::try_from(i).ok());
                        match i.and_then(|i| items.get(i)) {
                            Some(v) => v.clone(),
                            None => return Err(format!("index out of range: {n}")),
                        }
                    }
                    (Json::Null, _) => Json::Null,
                    (container, key) => {
                        return Err(format!("can't index item of type {}", kind(container))
                            + &format!(" with {}", kind(key)))
                    }
                };
            }
            Ok(current)
        }
        "print" => string(go_sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(text).collect();
            string(parts.join(" ") + "\n")
        }
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            string(go_sprintf(&text(format), rest))
        }
        "not" => {
            arity(name, &args, 1)?;
            Ok(Json::Bool(!args[0].truthy()))
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let want = name == "or";
            // Go returns the first argument that decides, else the last.
            let decided = args.iter().find(|a| a.truthy() == want);
            Ok(decided.or(args.last()).cloned().unwrap_or_default())
        }
        "eq" | "ne" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(format!("wrong number of args for {name}: want 2 got 0"));
            };
            if rest.is_empty() {
                return Err(format!("wrong number of args for {name}: want 2 got 1"));
            }
            let equal = rest.iter().any(|other| same(first, other));
            Ok(Json::Bool(if name == "eq" { equal } else { !equal }))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Equality that treats 1 and 1.0 alike.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// strings.Title: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric();
    }
    out
}

/// fmt.Sprint: a space between two operands when neither is a string.
fn go_sprint(args: &[Json]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            let prev_is_string = matches!(args[i - 1], Json::String(_));
            if !prev_is_string && !matches!(arg, Json::String(_)) {
                out.push(' ');
            }
        }
        out.push_str(&arg.to_string());
    }
    out
}

/// fmt.Sprintf for the verbs templates use: %s %v %d %q %t and %%.
fn go_sprintf(format: &str, args: &[Json]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(arg) => match verb {
                'q' => out.push_str(&go_quote(&arg.to_string())),
                's' | 'v' | 'd' | 't' => out.push_str(&arg.to_string()),
                other => out.push_str(&format!("%!{other}({arg})")),
            },
        }
    }
    out
}
