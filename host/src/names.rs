//! Job names are camelCase (`createBirthNotification`, `parseAs`); WIT names are
//! kebab-case (`create-birth-notification`, `parse-as`).

/// `parse-as` → `parseAs`.
pub fn camel_case(kebab: &str) -> String {
    let mut out = String::with_capacity(kebab.len());
    let mut upper = false;
    for c in kebab.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `parseAs` → `parse-as`; kebab-case input is returned unchanged.
pub fn kebab_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        assert_eq!(camel_case("create-birth-notification"), "createBirthNotification");
        assert_eq!(kebab_case("createBirthNotification"), "create-birth-notification");
        assert_eq!(kebab_case("fetch-many"), "fetch-many");
        assert_eq!(camel_case("get"), "get");
    }
}
