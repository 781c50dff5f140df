//! A cheap, non-recursive pre-scan that refuses deeply nested jobs before the recursive
//! parser (and the recursive visitors after it) could overflow the stack.
//!
//! It counts, at every point of the text, the open brackets (`(`, `[`, `{`, template
//! literals and their `${`), plus the operators chained in the expression being read at
//! each of those levels (`!!!!x`, `a + b + …`, `a.b.c…`, `x = y = …` all nest the syntax
//! tree one level per operator). A `,` or `;` ends an expression at its level, and so does
//! a line break between two operands (where JavaScript inserts a semicolon). The count
//! over-approximates the depth of the syntax tree, which is the safe direction.
//!
//! Strings, comments, template text and regular expression literals are skipped, so the
//! brackets inside them do not count. Telling a regular expression from a division uses
//! the usual heuristic on the previous token (a `/` after an operand divides); a closer
//! only closes a bracket of its own kind, so a misread token cannot unwind real nesting.

use crate::error::{CompileError, line_col};

/// Kinds of open levels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Paren {
        after_keyword: bool,
    },
    Bracket,
    Brace {
        block: bool,
    },
    /// Inside the text of a template literal.
    Template,
    /// Inside `${ … }` of a template literal.
    TemplateExpr,
}

/// What came before the current token, for the regex/division decision and ASI resets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of input, an operator, an opener, `,` or `;`: a `/` here starts a regex.
    ExpectOperand,
    /// An identifier, literal or closer: a `/` here divides.
    Operand,
    /// A `)` that closed `if (…)`, `while (…)`, `for (…)` or `with (…)`, or a `}` that closed
    /// a block: a `/` here starts a regex, and a `{` here opens a block.
    StatementEnd,
    /// A keyword after which `(` is a statement head (`if`, `while`, `for`, `with`).
    HeadKeyword,
}

/// What an open bracket costs; a chained operator costs 1. Brackets cost more because
/// the parser descends through every precedence level for each of them.
const LEVEL: usize = 2;

/// Fails with [`CompileError::TooDeep`] if `src` nests deeper than `limit`.
pub(crate) fn check(src: &str, limit: u32) -> Result<(), CompileError> {
    let b = src.as_bytes();
    let limit = limit as usize;
    // Open levels with the operators chained at each; `root_ops` for the top level.
    let mut stack: Vec<(Open, usize)> = Vec::new();
    let mut root_ops = 0usize;
    let mut total = 0usize;
    let mut prev = Prev::ExpectOperand;
    let mut newline = false;
    let mut i = 0usize;

    let too_deep = |at: usize| {
        let (line, column) = line_col(src, u32::try_from(at).unwrap_or(u32::MAX));
        CompileError::TooDeep {
            limit: limit as u32,
            line,
            column,
        }
    };

    macro_rules! ops {
        () => {
            match stack.last_mut() {
                Some((_, ops)) => ops,
                None => &mut root_ops,
            }
        };
    }

    while i < b.len() {
        // Inside template text: skip to its end or to the next `${`.
        if let Some((Open::Template, ops)) = stack.last() {
            let ops = *ops;
            match b[i] {
                b'\\' => i += 2,
                b'`' => {
                    stack.pop();
                    total -= LEVEL + ops;
                    prev = Prev::Operand;
                    i += 1;
                }
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    stack.push((Open::TemplateExpr, 0));
                    total += LEVEL;
                    prev = Prev::ExpectOperand;
                    i += 2;
                    if total > limit {
                        return Err(too_deep(i));
                    }
                }
                _ => i += 1,
            }
            continue;
        }

        let c = b[i];
        if c == b'\n' || c == b'\r' {
            newline = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                newline |= b[i] == b'\n';
                i += 1;
            }
            i += 2;
            continue;
        }

        let starts_operand = c == b'\''
            || c == b'"'
            || c == b'`'
            || c == b'_'
            || c == b'$'
            || c == b'#'
            || c.is_ascii_alphanumeric()
            || c >= 0x80
            || (c == b'/' && prev != Prev::Operand);
        // A line break between two operands ends the expression (automatic semicolon).
        if newline && starts_operand && matches!(prev, Prev::Operand | Prev::StatementEnd) {
            let ops = ops!();
            total -= *ops;
            *ops = 0;
        }
        newline = false;

        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                prev = Prev::Operand;
            }
            b'`' => {
                stack.push((Open::Template, 0));
                total += LEVEL;
                i += 1;
            }
            b'/' if prev != Prev::Operand => {
                // A regular expression literal: skip its body and flags.
                i += 1;
                let mut class = false;
                while i < b.len() && b[i] != b'\n' {
                    match b[i] {
                        b'\\' => i += 1,
                        b'[' => class = true,
                        b']' => class = false,
                        b'/' if !class => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                    i += 1;
                }
                prev = Prev::Operand;
            }
            _ if starts_operand => {
                let start = i;
                while i < b.len()
                    && (b[i] == b'_' || b[i] == b'$' || b[i] == b'#' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80)
                {
                    i += 1;
                }
                // `1.5e+3`: the dot and sign are part of the number, not operators.
                if c.is_ascii_digit() {
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric()
                            || b[i] == b'.'
                            || b[i] == b'_'
                            || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
                    {
                        i += 1;
                    }
                }
                prev = match &src[start..i] {
                    "typeof" | "void" | "delete" | "await" | "new" | "yield" | "in" | "instanceof" | "of" => {
                        *ops!() += 1;
                        total += 1;
                        Prev::ExpectOperand
                    }
                    "return" | "case" | "do" | "else" | "throw" | "extends" | "export" | "default" => {
                        Prev::ExpectOperand
                    }
                    "if" | "while" | "for" | "with" => Prev::HeadKeyword,
                    _ => Prev::Operand,
                };
            }
            b'(' | b'[' | b'{' => {
                let open = match c {
                    b'(' => Open::Paren {
                        after_keyword: prev == Prev::HeadKeyword,
                    },
                    b'[' => Open::Bracket,
                    // A `{` after an operand-ish statement end, `)` or `=>`-less start is a block.
                    _ => Open::Brace {
                        block: matches!(prev, Prev::StatementEnd) || block_context(b, i),
                    },
                };
                stack.push((open, 0));
                total += LEVEL;
                prev = Prev::ExpectOperand;
                i += 1;
            }
            b')' | b']' | b'}' => {
                let closes = |open: Open| {
                    matches!(
                        (c, open),
                        (b')', Open::Paren { .. })
                            | (b']', Open::Bracket)
                            | (b'}', Open::Brace { .. } | Open::TemplateExpr)
                    )
                };
                match stack.last() {
                    Some(&(open, ops)) if closes(open) => {
                        stack.pop();
                        total -= LEVEL + ops;
                        prev = match open {
                            Open::Paren { after_keyword: true } | Open::Brace { block: true } => Prev::StatementEnd,
                            _ => Prev::Operand,
                        };
                    }
                    // A stray closer: the parser will report it; it unwinds nothing here.
                    _ => prev = Prev::Operand,
                }
                i += 1;
            }
            b',' | b';' => {
                let ops = ops!();
                total -= *ops;
                *ops = 0;
                prev = Prev::ExpectOperand;
                i += 1;
            }
            _ => {
                // `x++ / 2` divides, like any `/` after an operand.
                if (c == b'+' || c == b'-') && b.get(i + 1) == Some(&c) && prev == Prev::Operand {
                    *ops!() += 1;
                    total += 1;
                    i += 2;
                } else {
                    // A run of operator characters is one chained operator (`===`, `=>`),
                    // except that each further prefix operator in it nests again (`!!x`, `-+x`).
                    let mut cost = 1;
                    i += 1;
                    // A `/` after an operator starts a regex or a comment, never continues the run.
                    while i < b.len() && is_operator(b[i]) && b[i] != b'/' {
                        cost += usize::from(matches!(b[i], b'!' | b'~' | b'+' | b'-'));
                        i += 1;
                    }
                    *ops!() += cost;
                    total += cost;
                    prev = Prev::ExpectOperand;
                }
            }
        }
        if total > limit {
            return Err(too_deep(i.min(b.len())));
        }
    }
    Ok(())
}

/// Whether the `{` at `at` opens a block rather than an object literal, judged by the
/// last non-space character before it: after `)` (a function or statement head), `=>`,
/// `;`, `{`, `}` or at the start, it is a block.
fn block_context(b: &[u8], at: usize) -> bool {
    let before = b[..at].iter().rposition(|c| !c.is_ascii_whitespace());
    match before {
        None => true,
        Some(j) => matches!(b[j], b')' | b';' | b'{' | b'}') || (b[j] == b'>' && j > 0 && b[j - 1] == b'='),
    }
}

/// Punctuation that forms operators (`.` included: member chains nest too).
fn is_operator(c: u8) -> bool {
    matches!(
        c,
        b'.' | b'!'
            | b'~'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
            | b'&'
            | b'|'
            | b'^'
            | b'?'
            | b':'
            | b'@'
    )
}
