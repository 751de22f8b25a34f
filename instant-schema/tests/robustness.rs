//! No input panics: random bytes, and random truncations and mutations of the fixtures, fed to
//! every reader. (Reading may fail; it must fail with an error, not a panic.)

use instant_schema::{from_json_value, parse_json, parse_ts, perms};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    ">>>",
    "'",
    "\"",
    "`",
    "${",
    "/*",
    "*/",
    "//",
    "\\",
    "...",
    "=>",
    ",",
    ";",
    "\n",
    "\r\n",
    "i.",
    ".optional()",
    "i.string<'a' | 'b'>()",
    "i.entity({})",
    "as const",
    "satisfies X",
    "export default ",
    "import x from './modules/users';",
    "$users",
    "0x",
    "1e",
    "\u{feff}",
    "é",
    "!",
    "?",
    "+",
    "-",
    "|",
    "&",
    "=",
    ":",
    "#!",
    "\u{2028}",
];

fn read_all(path: &Path, text: &str) {
    let _ = parse_ts(text, path);
    let _ = parse_json(text, path);
    let _ = perms::parse_ts(text, path);
    let _ = perms::parse_json(text, path);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = from_json_value(&v);
        let _ = perms::Rules::from_json_value(&v);
    }
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(a, p)| Mutation::Insert(a, p)),
        (any::<usize>(), 1usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let len = text.len().max(1);
    match *m {
        Mutation::Truncate(a) => text[..char_floor(text, a % len)].to_string(),
        Mutation::Delete(a, n) => {
            let s = char_floor(text, a % len);
            let e = char_floor(text, s + n);
            format!("{}{}", &text[..s], &text[e..])
        }
        Mutation::Insert(a, p) => {
            let s = char_floor(text, a % len);
            format!("{}{}{}", &text[..s], PIECES[p], &text[s..])
        }
        Mutation::Duplicate(a, n) => {
            let s = char_floor(text, a % len);
            let e = char_floor(text, s + n);
            format!("{}{}", &text[..e], &text[s..])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        read_all(Path::new("random.ts"), &text);
    }

    #[test]
    fn random_token_soup_never_panics(pieces in proptest::collection::vec(0..PIECES.len(), 0..80)) {
        let text: String = pieces.iter().map(|p| PIECES[*p]).collect();
        read_all(Path::new("soup.ts"), &text);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..6)) {
        let all = fixtures();
        let (path, text) = &all[which % all.len()];
        let mut t = text.clone();
        for m in &muts {
            t = apply(&t, m);
        }
        read_all(path, &t);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for open in ["{a:", "[", "(", "i.entity(", "x.", "'a' + "] {
        let text = format!("export default {}", open.repeat(100_000));
        let err = parse_ts(&text, Path::new("deep.ts")).unwrap_err();
        assert!(!err.diagnostics.is_empty());
    }
    let text = format!(
        "type X = {}string;\nexport default 1",
        "A extends B ? C : ".repeat(50_000)
    );
    assert!(parse_ts(&text, Path::new("deep.ts")).is_err());
    let json = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_json(&json, Path::new("deep.json")).is_err());
}

#[test]
fn every_truncation_of_the_fixtures_fails_cleanly_or_reads() {
    for (path, text) in fixtures() {
        let mut cut = 0;
        while cut < text.len() {
            let t = &text[..char_floor(&text, cut)];
            read_all(&path, t);
            cut += 11;
        }
    }
}
