//! The README's quickstart is the example that CI compiles, word for word.

#[test]
fn the_readme_quickstart_is_examples_quickstart_rs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/quickstart.rs")).unwrap();
    let heading = "## Quickstart (`examples/quickstart.rs`)\n\n```rust\n";
    let start = readme.find(heading).expect("the README has a quickstart") + heading.len();
    let end = start + readme[start..].find("```").expect("the code block ends");
    // The example starts with its doc line and a blank line; the README shows the rest.
    let body = example.split_once("\n\n").map(|(_, rest)| rest).unwrap();
    assert_eq!(&readme[start..end], body);
}
