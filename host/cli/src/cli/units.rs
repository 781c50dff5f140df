//! Durations on the command line: always with a unit (`300s`, `5m`, `500ms`, `1h 30m`).
//!
//! OpenFn's CLI takes `-t 300000` as milliseconds where these flags used to take
//! seconds; rather than surprise either reader, a bare number is refused with a hint.

use std::time::Duration;

/// The longest duration accepted: one year.
const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses the value given to `flag`: a positive duration with a unit, at most a year.
pub fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')
    {
        return Err(format!(
            "{flag} {text}: give a unit, e.g. {text}s, {text}ms or 5m (OpenFn's -t counts milliseconds, these flags \
             used to count seconds: a bare number would be ambiguous)"
        ));
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{flag} {text:?} is not a duration ({e}): expected e.g. 300s, 5m or 500ms"))?;
    if duration.is_zero() || duration > MAX {
        return Err(format!("{flag} must be above 0 and at most 365 days, got {text}"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required_and_ranges_checked() {
        assert_eq!(duration("--timeout", "300s"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("--timeout", "5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("--timeout", "500ms"), Ok(Duration::from_millis(500)));
        for bad in ["300", "1e300", "0s", "400days", "soon", ""] {
            let error = duration("--timeout", bad).unwrap_err();
            assert!(error.starts_with("--timeout"), "{bad}: {error}");
        }
        assert!(duration("--timeout", "300000").unwrap_err().contains("give a unit"));
    }
}
