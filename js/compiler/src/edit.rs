//! Rewrites as text edits on the job's source, so that untouched code keeps its form.

/// One edit: replace `start..end` (empty for an insertion) with `text`. At one offset,
/// edits apply in `rank` order (lower first).
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub start: u32,
    pub end: u32,
    pub rank: u8,
    pub text: String,
}

impl Edit {
    pub fn insert(at: u32, rank: u8, text: impl Into<String>) -> Self {
        Self {
            start: at,
            end: at,
            rank,
            text: text.into(),
        }
    }

    pub fn replace(start: u32, end: u32, text: impl Into<String>) -> Self {
        Self {
            start,
            end,
            rank: u8::MAX,
            text: text.into(),
        }
    }
}

/// Applies non-overlapping `edits` to `src`.
pub(crate) fn apply(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, e.rank));
    let mut out = String::with_capacity(src.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    let mut pos = 0usize;
    for edit in edits {
        let (start, end) = (edit.start as usize, edit.end as usize);
        debug_assert!(start >= pos, "overlapping edits");
        let start = start.max(pos);
        out.push_str(&src[pos..start]);
        out.push_str(&edit.text);
        pos = end.max(start);
    }
    out.push_str(&src[pos..]);
    out
}
