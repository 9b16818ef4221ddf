//! `haul man`: the manual page generated from the command line.

use crate::cli::{Env, s};

#[test]
fn man_prints_haul_1_and_writes_a_page_per_command() {
    let e = Env::new();
    let page = e.ok(&["man"]);
    assert!(page.contains(".TH haul 1"), "{page}");
    // Every command and global flag of the definition is there.
    for text in ["check", "sync", "\\-\\-metrics", "\\-\\-json"] {
        assert!(page.contains(text), "{text} missing");
    }
    let dir = e.path("man1");
    e.ok(&["man", "--dir", s(&dir)]);
    for name in ["haul.1", "haul-check.1", "haul-cp.1", "haul-jobs-list.1"] {
        let text =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(".TH haul"), "{name}: {text}");
    }
    // Each command's page has its own flags.
    let check = std::fs::read_to_string(dir.join("haul-check.1")).unwrap();
    assert!(check.contains("\\-\\-download"), "{check}");
    let sync = std::fs::read_to_string(dir.join("haul-sync.1")).unwrap();
    assert!(sync.contains("\\-\\-progress\\-interval"), "{sync}");
}
