//! tools/cross/hot.sh, which lays out the router binaries with the serving daemon's functions
//! first: its linker script is tried on a small C program linked by the system's cc, the same
//! way tools/cross/build.sh links qnetd (per-function sections, `-T` with INSERT).

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Four 4 KB functions; main calls them so that the link keeps them.
const PROGRAM: &str = r#"
#define BIG(name) __attribute__((noinline)) void name(void) { __asm__ volatile(".fill 4096,1,0x90"); }
BIG(cold_a) BIG(hot_b) BIG(cold_c) BIG(hot_d) BIG(helper_e)
int main(int argc, char **argv) {
    (void)argv;
    if (argc > 5) { cold_a(); hot_b(); cold_c(); hot_d(); helper_e(); }
    return 0;
}
"#;

struct Work {
    dir: PathBuf,
}

impl Work {
    fn new(name: &str) -> Work {
        let dir = std::env::temp_dir().join(format!("qnetd-hot-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("p.c"), PROGRAM).unwrap();
        Work { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Link p.c, with `script` as a linker script if given.
    fn link(&self, out: &str, script: Option<&Path>) -> PathBuf {
        let mut cc = Command::new("cc");
        cc.args(["-O1", "-ffunction-sections", "-o"])
            .arg(self.path(out))
            .arg(self.path("p.c"));
        if let Some(script) = script {
            cc.arg(format!("-Wl,-T,{}", script.display()));
        }
        let status = cc.status().expect("run cc");
        assert!(status.success(), "cc failed");
        self.path(out)
    }

    fn hot(&self, args: &[&Path]) -> Output {
        Command::new(repo().join("tools/cross/hot.sh"))
            .args(args)
            .output()
            .expect("run tools/cross/hot.sh")
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// (start, end) of an ELF section, from `readelf -SW`.
fn section(elf: &Path, name: &str) -> Option<(u64, u64)> {
    let out = Command::new("readelf")
        .arg("-SW")
        .arg(elf)
        .output()
        .expect("run readelf");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let at = cols.iter().position(|c| *c == name)?;
            let addr = u64::from_str_radix(cols.get(at + 2)?, 16).ok()?;
            let size = u64::from_str_radix(cols.get(at + 4)?, 16).ok()?;
            Some((addr, addr + size))
        })
}

/// Address of a symbol, from `nm`.
fn symbol(elf: &Path, name: &str) -> u64 {
    let out = Command::new("nm").arg(elf).output().expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.ends_with(&format!(" {name}")))
        .unwrap_or_else(|| panic!("{name} not in {}", elf.display()));
    u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap()
}

#[test]
fn listed_functions_and_patterns_are_packed_first_and_nothing_else() {
    let work = Work::new("packed");
    let first = work.link("first", None);
    let list = work.path("list.txt");
    fs::write(&list, "# comment\n* helper_\nhot_d\nhot_b\n").unwrap();
    let script = work.path("hot.ld");
    let out = work.hot(&[Path::new("script"), &first, &script, &list]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 of 2 listed functions found (100%"),
        "{}",
        text(&out)
    );

    let second = work.link("second", Some(&script));
    let (start, end) = section(&second, ".text.hot").expect("a .text.hot section");
    let inside = |name: &str| (start..end).contains(&symbol(&second, name));
    assert!(inside("hot_b") && inside("hot_d") && inside("helper_e"));
    assert!(!inside("cold_a") && !inside("cold_c") && !inside("main"));
    assert!(
        end - start >= 3 * 4096 && end - start < 4 * 4096,
        "{start:#x}..{end:#x}"
    );

    // `layout` reads the same from the section headers; the first link has no hot section.
    let layout = work.hot(&[Path::new("layout"), &second]);
    assert!(
        text(&layout).starts_with("hot .text 12 of "),
        "{}",
        text(&layout)
    );
    let none = work.hot(&[Path::new("layout"), &first]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
}

#[test]
fn a_stale_list_fails_instead_of_packing_a_fraction() {
    let work = Work::new("stale");
    let first = work.link("first", None);
    let list = work.path("list.txt");
    // One of three names left: a list from an older build.
    fs::write(&list, "hot_b\ngone_one\ngone_two\n").unwrap();
    let script = work.path("hot.ld");
    let out = work.hot(&[Path::new("script"), &first, &script, &list]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("1 of 3 listed functions found (33%"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("stale"), "{}", text(&out));
    assert!(
        !script.exists(),
        "no script is left behind for a stale list"
    );

    // Rust paths decide when the list has any (C names differ by target): the two C names
    // found do not make up for the Rust path that is gone.
    fs::write(&list, "hot_b\nhot_d\nqnetd::gone\n").unwrap();
    let out = work.hot(&[Path::new("script"), &first, &script, &list]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("0 of 1 listed Rust functions found (0%"),
        "{}",
        text(&out)
    );

    // "+ NAME" (only the host build has it) is placed where found and never counted as missing.
    fs::write(&list, "hot_b\n+ hot_d\n+ gone_elsewhere\n").unwrap();
    let out = work.hot(&[Path::new("script"), &first, &script, &list]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 of 1 listed functions found (100%"),
        "{}",
        text(&out)
    );
    assert!(fs::read_to_string(&script)
        .unwrap()
        .contains(".text.hot_d "));

    // At the threshold it passes: 2 of 3 is 66%.
    fs::write(&list, "hot_b\nhot_d\ngone_one\n").unwrap();
    let lenient = Command::new(repo().join("tools/cross/hot.sh"))
        .args([Path::new("script"), &first, &script, &list])
        .env("QNETD_HOT_MIN_FOUND", "66")
        .output()
        .unwrap();
    assert!(lenient.status.success(), "{}", text(&lenient));
}
