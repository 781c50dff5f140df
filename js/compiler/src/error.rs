//! The errors a job can fail to compile with, each placed at a line and column of the job.

use std::fmt;

/// Why a job did not compile. Every variant that points into the job carries a 1-based
/// `line` and a 1-based `column` (counted in characters) in the job's own source text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The job is not valid JavaScript (parsed as an ES module). `message` is the parser's.
    #[error("SyntaxError: {message} ({line}:{column})")]
    Syntax {
        /// The parser's description of the problem.
        message: String,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
    },
    /// A `$.…` lazy-state reference that cannot be turned into a `state => …` function.
    #[error("LazyStateError: {problem} ({line}:{column})")]
    LazyState {
        /// What is wrong with the reference.
        problem: LazyStateProblem,
        /// 1-based line of the `$` (or of the enclosing arrow function).
        line: u32,
        /// 1-based column of the `$` (or of the enclosing arrow function).
        column: u32,
    },
    /// Brackets (or chained operators) nest deeper than [`MAX_NESTING`](crate::MAX_NESTING):
    /// refused before parsing so that the recursive parser cannot overflow its stack.
    #[error(
        "job nests too deeply: over the limit of {limit} (2 per bracket, 1 per chained operator) ({line}:{column})"
    )]
    TooDeep {
        /// The limit that was exceeded.
        limit: u32,
        /// 1-based line where the limit was exceeded.
        line: u32,
        /// 1-based column where the limit was exceeded.
        column: u32,
    },
    /// A bug in this compiler: the code it produced did not parse. Please report it with the job.
    #[error("internal compiler error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// The ways a `$` lazy-state reference can be misplaced (OpenFn's `LazyStateError`s).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LazyStateProblem {
    /// A statement or declaration was reached before any enclosing call, e.g. `const x = $.a;`
    /// at the top level or `fn(state => { return $.a; })`.
    OutsideOperation,
    /// The argument that holds the `$` is an arrow function with one parameter that is not
    /// called `state`; holds that parameter's source text.
    ParameterName(String),
    /// The argument that holds the `$` is an arrow function with zero or several parameters.
    WrongArity,
    /// The `$` is in a spread argument (`op(...$.items)`), which cannot be made lazy.
    Spread,
}

impl fmt::Display for LazyStateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutsideOperation => f.write_str("Must be inside an operation"),
            Self::ParameterName(name) => write!(f, "parameter \"{name}\" should be called \"state\""),
            Self::WrongArity => f.write_str("parent has wrong arity"),
            Self::Spread => f.write_str("cannot be spread into an operation's arguments"),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: u32) -> (u32, u32) {
    let offset = (offset as usize).min(text.len());
    // Spans always fall on character boundaries; step back just in case one does not.
    let mut end = offset;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}
