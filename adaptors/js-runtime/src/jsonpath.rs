//! JSONPath with the semantics of `jsonpath-plus` 10 (what language-common 3.3.4 uses):
//! every match in document order, names after a dot taken verbatim up to the next `.` or
//! `[` (so `@odata.count` and `a-b` need no quotes), `[*]`, `..`, unions, slices such as
//! `[-1:]`, filters `[?(@.k == 'b')]` with a small safe evaluator, script indexes
//! `[(@.length-1)]`, and a trailing `~` for property names instead of values.
//!
//! Evaluation is generic over [`Access`], so the same code walks JavaScript values in
//! the runtime (keeping object identity, as jsonpath-plus does) and `serde_json` values
//! in the unit tests.

/// How to read a document.
pub trait Access {
    /// A value in the document.
    type Node: Clone;
    /// Property `key` of `node`: an object's own or inherited property, an array's index
    /// or `length`, a string's `length`. `None` when absent or undefined.
    fn get(&mut self, node: &Self::Node, key: &str) -> Option<Self::Node>;
    /// The children of an array (indexes) or object (own enumerable keys), in order;
    /// nothing for anything else.
    fn children(&mut self, node: &Self::Node) -> Vec<(Key, Self::Node)>;
    /// The value as a filter expression sees it.
    fn scalar(&mut self, node: &Self::Node) -> Scalar;
    /// A document value for a property name (the `~` results).
    fn make(&mut self, key: &Key) -> Self::Node;
}

/// A property name: an array index or an object key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// An array index.
    Index(usize),
    /// An object key.
    Name(String),
}

/// A primitive as filter expressions compare it; objects and arrays are `Object`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// No value.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An object, array or function (compared by nothing but truthiness here).
    Object,
}

impl Scalar {
    fn truthy(&self) -> bool {
        match self {
            Scalar::Undefined | Scalar::Null => false,
            Scalar::Bool(b) => *b,
            Scalar::Num(n) => *n != 0.0 && !n.is_nan(),
            Scalar::Str(s) => !s.is_empty(),
            Scalar::Object => true,
        }
    }

    fn number(&self) -> f64 {
        match self {
            Scalar::Undefined | Scalar::Object => f64::NAN,
            Scalar::Null => 0.0,
            Scalar::Bool(b) => f64::from(u8::from(*b)),
            Scalar::Num(n) => *n,
            Scalar::Str(s) if s.trim().is_empty() => 0.0,
            Scalar::Str(s) => s.trim().parse().unwrap_or(f64::NAN),
        }
    }

    fn key(&self) -> String {
        match self {
            Scalar::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Scalar::Num(n) => n.to_string(),
            Scalar::Str(s) => s.clone(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".into(),
            Scalar::Undefined => "undefined".into(),
            Scalar::Object => "[object Object]".into(),
        }
    }
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    steps: Vec<Step>,
    /// A trailing `~`: return property names.
    names: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    descendant: bool,
    selector: Selector,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<Selector>),
    Filter(Expr),
    Script(Expr),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Literal(Scalar),
    /// `@` (false) or `$` (true) followed by property names.
    Path(bool, Vec<String>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    StrictEq,
    Ne,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
}

/// Parses `path`. A leading `$` is optional, as in jsonpath-plus.
pub fn parse(path: &str) -> Result<Path, String> {
    let chars: Vec<char> = path.trim().chars().collect();
    let mut i = 0;
    if chars.first() == Some(&'$') {
        i = 1;
    }
    let mut steps = Vec::new();
    let mut names = false;
    let mut first = true;
    while i < chars.len() {
        let mut descendant = false;
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                descendant = true;
                i += 2;
            }
            '.' => i += 1,
            '[' => {}
            _ if first => {}
            c => return Err(format!("unexpected {c:?} at {i} in JSONPath {path:?}")),
        }
        first = false;
        if chars.get(i) == Some(&'[') {
            let end = closing(&chars, i).ok_or_else(|| format!("unclosed [ in JSONPath {path:?}"))?;
            let inner: String = chars[i + 1..end].iter().collect();
            steps.push(Step {
                descendant,
                selector: bracket(inner.trim()).map_err(|e| format!("{e} in JSONPath {path:?}"))?,
            });
            i = end + 1;
        } else {
            let start = i;
            while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                if descendant {
                    continue; // `$..[0]`: the bracket follows
                }
                return Err(format!("empty name at {start} in JSONPath {path:?}"));
            }
            steps.push(Step {
                descendant,
                selector: if name == "*" {
                    Selector::Wildcard
                } else {
                    Selector::Name(name)
                },
            });
        }
        if chars.get(i) == Some(&'~') {
            names = true;
            i += 1;
        }
    }
    // A trailing `~` on a dotted name (`*~`, `a~`) was read into the name.
    if let Some(Step {
        selector: selector @ (Selector::Name(_) | Selector::Wildcard),
        ..
    }) = steps.last_mut()
        && let Selector::Name(name) = selector
        && let Some(stripped) = name.strip_suffix('~')
    {
        names = true;
        *selector = if stripped == "*" {
            Selector::Wildcard
        } else {
            Selector::Name(stripped.to_string())
        };
    }
    Ok(Path { steps, names })
}

/// The index of the `]` closing the `[` at `open`, skipping quotes and nested brackets.
fn closing(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '(' => depth += 1,
                ')' => depth -= 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The selector inside `[...]`.
fn bracket(inner: &str) -> Result<Selector, String> {
    if inner == "*" {
        return Ok(Selector::Wildcard);
    }
    if let Some(expr) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
        return Ok(Selector::Filter(Parser::new(expr).whole()?));
    }
    if let Some(expr) = inner.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        return Ok(Selector::Script(Parser::new(expr).whole()?));
    }
    let parts = split_top(inner, ',');
    let mut selectors = Vec::new();
    for part in &parts {
        let part = part.trim();
        let selector = if let Some(s) = quoted(part) {
            Selector::Name(s)
        } else if part == "*" {
            Selector::Wildcard
        } else if part.contains(':') {
            let bounds: Vec<&str> = part.split(':').collect();
            let num = |s: Option<&&str>| -> Result<Option<i64>, String> {
                match s.map(|s| s.trim()) {
                    None | Some("") => Ok(None),
                    Some(s) => s.parse().map(Some).map_err(|_| format!("bad slice bound {s:?}")),
                }
            };
            Selector::Slice(num(bounds.first())?, num(bounds.get(1))?, num(bounds.get(2))?)
        } else if part.is_empty() {
            return Err("empty brackets".into());
        } else {
            Selector::Name(part.to_string())
        };
        selectors.push(selector);
    }
    Ok(if selectors.len() == 1 {
        selectors.pop().expect("one")
    } else {
        Selector::Union(selectors)
    })
}

/// `'text'` or `"text"` without its quotes (backslash escapes kept simple).
fn quoted(part: &str) -> Option<String> {
    let q = part.chars().next()?;
    if (q != '\'' && q != '"') || part.len() < 2 || !part.ends_with(q) {
        return None;
    }
    let mut out = String::new();
    let mut chars = part[1..part.len() - 1].chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Splits at `sep` outside quotes.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == sep => {
                parts.push(String::new());
                continue;
            }
            None => {}
        }
        parts.last_mut().expect("non-empty").push(c);
    }
    parts
}

/// A recursive-descent parser of filter expressions (a safe subset of JavaScript).
struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: u32,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            at: 0,
            depth: 0,
        }
    }

    fn whole(mut self) -> Result<Expr, String> {
        let expr = self.or()?;
        self.skip();
        if self.at < self.chars.len() {
            return Err(format!(
                "unsupported filter syntax at {:?}",
                self.chars[self.at..].iter().collect::<String>()
            ));
        }
        Ok(expr)
    }

    fn skip(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip();
        let t: Vec<char> = token.chars().collect();
        if self.chars[self.at..].starts_with(&t) {
            self.at += t.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Binary(Box::new(left), Op::Or, Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.comparison()?;
        while self.eat("&&") {
            left = Expr::Binary(Box::new(left), Op::And, Box::new(self.comparison()?));
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.additive()?;
        let ops = [
            ("===", Op::StrictEq),
            ("!==", Op::StrictNe),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        for (token, op) in ops {
            if self.eat(token) {
                return Ok(Expr::Binary(Box::new(left), op, Box::new(self.additive()?)));
            }
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            if self.eat("+") {
                left = Expr::Binary(Box::new(left), Op::Add, Box::new(self.unary()?));
            } else if self.eat("-") {
                left = Expr::Binary(Box::new(left), Op::Sub, Box::new(self.unary()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("filter nests too deeply".into());
        }
        let expr = if self.eat("!") {
            Expr::Not(Box::new(self.unary()?))
        } else if self.eat("-") {
            Expr::Neg(Box::new(self.unary()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip();
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err("missing ) in filter".into());
            }
            return Ok(inner);
        }
        let c = *self.chars.get(self.at).ok_or("filter ends too early")?;
        if c == '@' || c == '$' {
            self.at += 1;
            let mut keys = Vec::new();
            loop {
                if self.chars.get(self.at) == Some(&'.') {
                    self.at += 1;
                    let start = self.at;
                    while self
                        .chars
                        .get(self.at)
                        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$' || *c == '@' || *c == '-')
                    {
                        // `-` only inside a name followed by a name character (`a-b`), not `@.length-1`.
                        if self.chars[self.at] == '-' && !self.chars.get(self.at + 1).is_some_and(|c| c.is_alphabetic())
                        {
                            break;
                        }
                        self.at += 1;
                    }
                    keys.push(self.chars[start..self.at].iter().collect());
                } else if self.chars.get(self.at) == Some(&'[') {
                    let end = closing(&self.chars, self.at).ok_or("unclosed [ in filter")?;
                    let inner: String = self.chars[self.at + 1..end].iter().collect();
                    keys.push(quoted(inner.trim()).unwrap_or_else(|| inner.trim().to_string()));
                    self.at = end + 1;
                } else {
                    break;
                }
            }
            return Ok(Expr::Path(c == '$', keys));
        }
        if c == '\'' || c == '"' {
            let mut end = self.at + 1;
            while end < self.chars.len() && self.chars[end] != c {
                if self.chars[end] == '\\' {
                    end += 1;
                }
                end += 1;
            }
            let text: String = self.chars[self.at..=end.min(self.chars.len() - 1)].iter().collect();
            self.at = end + 1;
            return quoted(&text)
                .map(|s| Expr::Literal(Scalar::Str(s)))
                .ok_or("unclosed string in filter".into());
        }
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_alphanumeric() || *c == '.' || *c == '_')
        {
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        match word.as_str() {
            "true" => Ok(Expr::Literal(Scalar::Bool(true))),
            "false" => Ok(Expr::Literal(Scalar::Bool(false))),
            "null" => Ok(Expr::Literal(Scalar::Null)),
            "undefined" => Ok(Expr::Literal(Scalar::Undefined)),
            _ => word
                .parse::<f64>()
                .map(|n| Expr::Literal(Scalar::Num(n)))
                .map_err(|_| format!("unsupported filter term {word:?}")),
        }
    }
}

/// Every match of `path` in `root`, in document order.
pub fn query<A: Access>(access: &mut A, path: &Path, root: &A::Node) -> Vec<A::Node> {
    let mut current: Vec<(Option<Key>, A::Node)> = vec![(None, root.clone())];
    for step in &path.steps {
        let mut next = Vec::new();
        for (_, node) in &current {
            if step.descendant {
                descend(access, &step.selector, node, root, &mut next, 0);
            } else {
                select(access, &step.selector, node, root, &mut next);
            }
        }
        current = next;
    }
    if path.names {
        current
            .into_iter()
            .filter_map(|(key, _)| key.map(|k| access.make(&k)))
            .collect()
    } else {
        current.into_iter().map(|(_, node)| node).collect()
    }
}

/// Deepest document level `..` walks (a guard against the native stack).
const MAX_DEPTH: u32 = 512;

fn descend<A: Access>(
    access: &mut A,
    selector: &Selector,
    node: &A::Node,
    root: &A::Node,
    out: &mut Vec<(Option<Key>, A::Node)>,
    depth: u32,
) {
    select(access, selector, node, root, out);
    if depth >= MAX_DEPTH {
        return;
    }
    for (_, child) in access.children(node) {
        descend(access, selector, &child, root, out, depth + 1);
    }
}

fn select<A: Access>(
    access: &mut A,
    selector: &Selector,
    node: &A::Node,
    root: &A::Node,
    out: &mut Vec<(Option<Key>, A::Node)>,
) {
    match selector {
        Selector::Name(name) => {
            if let Some(child) = access.get(node, name) {
                let key = name.parse().map_or_else(|_| Key::Name(name.clone()), Key::Index);
                out.push((Some(key), child));
            }
        }
        Selector::Wildcard => out.extend(access.children(node).into_iter().map(|(k, v)| (Some(k), v))),
        Selector::Slice(start, end, step) => {
            let children = access.children(node);
            if !children.iter().all(|(k, _)| matches!(k, Key::Index(_))) {
                return;
            }
            let len = children.len() as i64;
            let step = step.unwrap_or(1);
            if step <= 0 {
                return;
            }
            let clamp = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
            let (from, to) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
            let mut i = from;
            while i < to {
                let (k, v) = children[i as usize].clone();
                out.push((Some(k), v));
                i += step;
            }
        }
        Selector::Union(selectors) => {
            for s in selectors {
                select(access, s, node, root, out);
            }
        }
        Selector::Filter(expr) => {
            for (key, child) in access.children(node) {
                if eval(access, expr, &child, root).truthy() {
                    out.push((Some(key), child));
                }
            }
        }
        Selector::Script(expr) => {
            let key = eval(access, expr, node, root).key();
            select(access, &Selector::Name(key), node, root, out);
        }
    }
}

fn eval<A: Access>(access: &mut A, expr: &Expr, current: &A::Node, root: &A::Node) -> Scalar {
    match expr {
        Expr::Literal(s) => s.clone(),
        Expr::Path(from_root, keys) => {
            let mut node = if *from_root { root.clone() } else { current.clone() };
            for key in keys {
                match access.get(&node, key) {
                    Some(n) => node = n,
                    None => return Scalar::Undefined,
                }
            }
            access.scalar(&node)
        }
        Expr::Not(e) => Scalar::Bool(!eval(access, e, current, root).truthy()),
        Expr::Neg(e) => Scalar::Num(-eval(access, e, current, root).number()),
        Expr::Binary(l, op, r) => {
            let left = eval(access, l, current, root);
            match op {
                Op::Or if left.truthy() => return left,
                Op::And if !left.truthy() => return left,
                Op::Or | Op::And => return eval(access, r, current, root),
                _ => {}
            }
            let right = eval(access, r, current, root);
            match op {
                Op::StrictEq => Scalar::Bool(strict_eq(&left, &right)),
                Op::StrictNe => Scalar::Bool(!strict_eq(&left, &right)),
                Op::Eq => Scalar::Bool(loose_eq(&left, &right)),
                Op::Ne => Scalar::Bool(!loose_eq(&left, &right)),
                Op::Lt | Op::Le | Op::Gt | Op::Ge => Scalar::Bool(compare(&left, *op, &right)),
                Op::Add => match (&left, &right) {
                    (Scalar::Str(a), b) => Scalar::Str(format!("{a}{}", b.key())),
                    (a, Scalar::Str(b)) => Scalar::Str(format!("{}{b}", a.key())),
                    (a, b) => Scalar::Num(a.number() + b.number()),
                },
                Op::Sub => Scalar::Num(left.number() - right.number()),
                Op::Or | Op::And => unreachable!("handled above"),
            }
        }
    }
}

fn strict_eq(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Num(x), Scalar::Num(y)) => x == y,
        (Scalar::Object, Scalar::Object) => false,
        _ => a == b,
    }
}

fn loose_eq(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Null | Scalar::Undefined, Scalar::Null | Scalar::Undefined) => true,
        (Scalar::Null | Scalar::Undefined, _) | (_, Scalar::Null | Scalar::Undefined) => false,
        (Scalar::Str(x), Scalar::Str(y)) => x == y,
        (Scalar::Object, _) | (_, Scalar::Object) => false,
        _ => a.number() == b.number(),
    }
}

fn compare(a: &Scalar, op: Op, b: &Scalar) -> bool {
    let ordering = match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => Some(x.cmp(y)),
        _ => a.number().partial_cmp(&b.number()),
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Gt => ordering.is_gt(),
        _ => ordering.is_ge(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// `serde_json` documents, for the tests.
    struct Json;

    impl Access for Json {
        type Node = Value;

        fn get(&mut self, node: &Value, key: &str) -> Option<Value> {
            match node {
                Value::Object(map) => map.get(key).cloned(),
                Value::Array(items) if key == "length" => Some(json!(items.len())),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i).cloned()),
                Value::String(s) if key == "length" => Some(json!(s.encode_utf16().count())),
                _ => None,
            }
        }

        fn children(&mut self, node: &Value) -> Vec<(Key, Value)> {
            match node {
                Value::Object(map) => map.iter().map(|(k, v)| (Key::Name(k.clone()), v.clone())).collect(),
                Value::Array(items) => items
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, v)| (Key::Index(i), v))
                    .collect(),
                _ => Vec::new(),
            }
        }

        fn scalar(&mut self, node: &Value) -> Scalar {
            match node {
                Value::Null => Scalar::Null,
                Value::Bool(b) => Scalar::Bool(*b),
                Value::Number(n) => Scalar::Num(n.as_f64().unwrap_or(f64::NAN)),
                Value::String(s) => Scalar::Str(s.clone()),
                _ => Scalar::Object,
            }
        }

        fn make(&mut self, key: &Key) -> Value {
            match key {
                Key::Index(i) => json!(i),
                Key::Name(n) => json!(n),
            }
        }
    }

    fn q(path: &str, doc: &Value) -> Value {
        let parsed = parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Value::Array(query(&mut Json, &parsed, doc))
    }

    fn doc() -> Value {
        json!({"data": {
            "items": [{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "c", "n": 3}],
            "@odata.count": 3, "@odata": {"x": 7}, "a-b": "dash", "sp ace": "space", "do.t": "dot",
            "nested": {"id": 10, "deeper": {"id": 11}}
        }, "references": [{"id": 1}, {"id": 2}]})
    }

    #[test]
    fn dotted_names_and_the_whole_array() {
        let d = doc();
        assert_eq!(
            q("$.data.items", &d),
            json!([d["data"]["items"]]),
            "one match: the array"
        );
        assert_eq!(q("$.data.items[*].k", &d), json!(["a", "b", "c"]));
        assert_eq!(q("$.data.items.*.n", &d), json!([1, 2, 3]));
        assert_eq!(q("data.items[0].k", &d), json!(["a"]), "no leading $");
        assert_eq!(q("$.data.items.length", &d), json!([3]));
        assert_eq!(q("$.data.missing", &d), json!([]));
    }

    #[test]
    fn odd_keys_work_unquoted_after_a_dot() {
        let d = doc();
        assert_eq!(q("$.data.@odata.x", &d), json!([7]));
        assert_eq!(q("$.data.a-b", &d), json!(["dash"]));
        assert_eq!(q("$.data.sp ace", &d), json!(["space"]));
        assert_eq!(q("$.data['do.t']", &d), json!(["dot"]));
        assert_eq!(q("$.data[\"@odata.count\"]", &d), json!([3]));
    }

    #[test]
    fn slices_unions_and_indexes() {
        let d = doc();
        assert_eq!(q("$.data.items[-1:].k", &d), json!(["c"]));
        assert_eq!(q("$.data.items[:2].k", &d), json!(["a", "b"]));
        assert_eq!(q("$.data.items[0:3:2].k", &d), json!(["a", "c"]));
        assert_eq!(q("$.data.items[0,2].k", &d), json!(["a", "c"]));
        assert_eq!(q("$.data.items[1]", &d), json!([{"k": "b", "n": 2}]));
        assert_eq!(q("$.data.items[(@.length-1)].k", &d), json!(["c"]));
    }

    #[test]
    fn descendants_in_document_order() {
        let d = doc();
        assert_eq!(q("$..id", &d), json!([10, 11, 1, 2]));
        assert_eq!(q("$.data..k", &d), json!(["a", "b", "c"]));
        assert_eq!(q("$..items[0].k", &d), json!(["a"]));
    }

    #[test]
    fn filters() {
        let d = doc();
        assert_eq!(q("$.data.items[?(@.k=='b')].n", &d), json!([2]));
        assert_eq!(q("$.data.items[?(@.n > 1 && @.k !== 'c')].k", &d), json!(["b"]));
        assert_eq!(q("$.data.items[?(@.n == '3' || !@.n)].k", &d), json!(["c"]));
        assert_eq!(q("$.data.items[?(@.k)].n", &d), json!([1, 2, 3]));
        assert_eq!(
            q("$.data.items[?(@.n <= $.references.length)].k", &d),
            json!(["a", "b"])
        );
    }

    #[test]
    fn property_names() {
        let d = doc();
        assert_eq!(q("$.data.nested.*~", &d), json!(["id", "deeper"]));
        assert_eq!(q("$.data.items[*]~", &d), json!([0, 1, 2]));
    }

    #[test]
    fn bad_paths_are_errors() {
        assert!(parse("$.data[").is_err());
        assert!(parse("$.data[?(@.a ~ 1)]").is_err());
        assert!(parse("$.data[1:x]").is_err());
    }
}
